using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Shadowing.Dapr.Messaging;

/// <summary>The HTTP endpoint on which Dapr delivers subscribed events to this app.</summary>
public static partial class DaprEventEndpoints
{
    /// <summary>
    /// Maps <c>POST /events/{topic}</c>: unwraps the CloudEvent, runs the handlers registered on
    /// <see cref="DaprEventBus"/> and answers Dapr with <c>SUCCESS</c>, <c>RETRY</c> (a handler failed, or none is subscribed) or
    /// <c>DROP</c> (the payload can never be handled), per Dapr's subscriber contract. With <c>APP_API_TOKEN</c> set,
    /// only requests carrying it (daprd's) are accepted; service invocations never are.
    /// </summary>
    public static IEndpointConventionBuilder MapShadowingEvents(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapPost("/events/{topic}", HandleAsync).RequireDaprAppToken().RefuseServiceInvocation();
    }

    private static async Task<IResult> HandleAsync(string topic, HttpRequest request, DaprEventBus bus, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(DaprEventEndpoints));
        ReadOnlyMemory<byte> data;
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted).ConfigureAwait(false);
            var root = document.RootElement;

            // Dapr wraps payloads in a CloudEvent unless the subscription asks for raw payloads.
            var payload = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("specversion", out _) && root.TryGetProperty("data", out var inner)
                ? inner
                : root;
            data = JsonSerializer.SerializeToUtf8Bytes(payload);
        }
        catch (JsonException ex)
        {
            LogDropped(logger, ex, topic);
            return Results.Ok(new { status = "DROP" });
        }

        try
        {
            if (!await bus.DispatchAsync(topic, data, request.HttpContext.RequestAborted).ConfigureAwait(false))
            {
                // Retried, not 404 (daprd drops an event answered 404 at once, to the dead-letter topic if one is set): a handler
                // may be between subscriptions (the mirror replayer re-subscribes its topics as the routing tables change)
                // or not subscribed yet at start. One that never comes ends in the dead-letter topic after the retries.
                LogNoHandler(logger, topic);
                return Results.Ok(new { status = "RETRY" });
            }

            return Results.Ok(new { status = "SUCCESS" });
        }
        catch (Exception ex) when (ex is JsonException or Core.Messaging.UnprocessableMessageException)
        {
            // daprd sends a dropped event to the subscription's dead-letter topic when it has one (subscription.go).
            LogDropped(logger, ex, topic);
            return Results.Ok(new { status = "DROP" });
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRetry(logger, ex, topic);
            return Results.Ok(new { status = "RETRY" });
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Dropping an event on topic {Topic}: its payload cannot be read or handled")]
    private static partial void LogDropped(ILogger logger, Exception error, string topic);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "An event on topic {Topic} arrived but no handler is registered for it; asking Dapr to retry")]
    private static partial void LogNoHandler(ILogger logger, string topic);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "A handler for topic {Topic} failed; asking Dapr to retry")]
    private static partial void LogRetry(ILogger logger, Exception error, string topic);
}
