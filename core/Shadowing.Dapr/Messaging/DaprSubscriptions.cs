using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;

namespace Shadowing.Dapr.Messaging;

/// <summary>A topic an app subscribes to through Dapr.</summary>
/// <param name="PubSubName">The pub/sub component.</param>
/// <param name="Topic">The topic.</param>
/// <param name="Route">The app route daprd POSTs events to (<c>/events/{topic}</c>).</param>
/// <param name="DeadLetterTopic">Where daprd sends events the app drops or never accepts.</param>
public sealed record DaprSubscription(string PubSubName, string Topic, string Route, string? DeadLetterTopic);

/// <summary>
/// Every app's Dapr subscriptions, served programmatically on <c>GET /dapr/subscribe</c> (Azure Container Apps reads
/// no subscription files, its own are ARM resources in preview; daprd asks every app at start). <c>components/subscriptions.yaml</c>
/// declares the same ones for <c>dapr run</c>, and a test checks the two agree; where both exist daprd keeps one
/// subscription per topic (the programmatic one), so nothing is delivered twice.
/// </summary>
public static class DaprSubscriptions
{
    /// <summary>The dead-letter topic of every subscription.</summary>
    public const string DeadLetterTopic = "deadletter";

    private static readonly IReadOnlyDictionary<string, IReadOnlyList<DaprSubscription>> ByApp = new Dictionary<string, IReadOnlyList<DaprSubscription>>(StringComparer.Ordinal)
    {
        [DaprAppIds.Router] = [Of(Topics.RoutingChanged), Of(Topics.Alerts)],
        [DaprAppIds.Functions] = [],
        [DaprAppIds.Workflows] = [Of(Topics.ShadowRequests), Of(Topics.ShadowVerdicts)],
    };

    /// <summary>The app ids that have subscriptions declared here.</summary>
    public static IEnumerable<string> Apps => ByApp.Keys;

    /// <summary>The subscriptions of <paramref name="appId"/>.</summary>
    public static IReadOnlyList<DaprSubscription> For(string appId) => ByApp.TryGetValue(appId, out var subscriptions) ? subscriptions : [];

    /// <summary>
    /// The subscription to service <paramref name="service"/>'s mirrored requests, on <see cref="DaprComponents.QueuePubSub"/>.
    /// No dead-letter topic: a copy that cannot be replayed (or has expired) is of no use to anyone.
    /// </summary>
    public static DaprSubscription Mirror(string service)
    {
        var topic = Topics.Mirror(service);
        return new(DaprComponents.QueuePubSub, topic, DaprComponents.EventRoute(topic), null);
    }

    /// <summary>
    /// The subscription to changes of <paramref name="service"/>'s production data (<c>data-changes.{service}</c>, published
    /// by the outbox of its data component), with the dead-letter topic: a change the feed cannot append is kept for an
    /// operator, since a shadow missing it would drift from production.
    /// </summary>
    public static DaprSubscription DataChanges(string service) => Of(Topics.DataChanges(service));

    /// <summary>
    /// Maps <c>GET /dapr/subscribe</c> answering <paramref name="appId"/>'s subscriptions in daprd's programmatic
    /// shape (<c>[{pubsubname, topic, routes: {default}, deadLetterTopic}]</c>), guarded by <c>APP_API_TOKEN</c>;
    /// plus <paramref name="more"/>, read when daprd asks (at its start: later changes need a restart of the pair).
    /// </summary>
    public static IEndpointConventionBuilder MapDaprSubscriptions(this IEndpointRouteBuilder endpoints, string appId, Func<IEnumerable<DaprSubscription>>? more = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var fixedOnes = For(appId);
        return endpoints.MapGet("/dapr/subscribe", () => Results.Json(fixedOnes.Concat(more?.Invoke() ?? []).Select(s => new
        {
            pubsubname = s.PubSubName,
            topic = s.Topic,
            routes = new { @default = s.Route },
            deadLetterTopic = s.DeadLetterTopic,
        }).ToArray())).RequireDaprAppToken().RefuseServiceInvocation();
    }

    private static DaprSubscription Of(string topic) => new(DaprComponents.PubSubOf(topic), topic, DaprComponents.EventRoute(topic), DeadLetterTopic);
}

/// <summary>
/// The token daprd sends to its app (<c>APP_API_TOKEN</c>, in the <c>dapr-api-token</c> header): when it is set, the
/// routes only daprd calls must carry it, so nothing else that can reach the app's port can pose as daprd.
/// </summary>
public static class DaprAppToken
{
    /// <summary>The environment variable (configuration key) daprd and the app share the token through.</summary>
    public const string ConfigurationKey = "APP_API_TOKEN";

    /// <summary>The header daprd sends it in.</summary>
    public const string Header = "dapr-api-token";

    /// <summary>The configured token, or null when none is set.</summary>
    public static byte[]? Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration[ConfigurationKey] is { Length: > 0 } token ? Encoding.UTF8.GetBytes(token) : null;
    }

    /// <summary>Whether <paramref name="request"/> carries <paramref name="token"/>, compared in constant time.</summary>
    public static bool Matches(HttpRequest request, byte[] token)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(token);
        var sent = request.Headers[Header];
        if (sent.Count != 1 || sent[0] is not { } value)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetMaxByteCount(value.Length) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(value, buffer)] : Encoding.UTF8.GetBytes(value);
        return CryptographicOperations.FixedTimeEquals(bytes, token);
    }

    /// <summary>
    /// Refuses service invocations of these endpoints (403): daprd's pub/sub deliveries and its subscription query come
    /// without <c>dapr-caller-app-id</c>, an invocation from another app carries it, and the app token with it, so the token
    /// alone does not keep any app of the environment (or a client, through a router invoked by Dapr) from posting forged
    /// events. Not covered: daprd's call to its own app (<c>invokeLocal</c>) adds no caller header.
    /// </summary>
    public static TBuilder RefuseServiceInvocation<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddEndpointFilter((context, next) => context.HttpContext.Request.Headers.ContainsKey(CallerAppIdHeader)
            ? ValueTask.FromResult<object?>(Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "Only daprd's pub/sub deliveries are taken here, not service invocations."))
            : next(context));
        return builder;
    }

    /// <summary>The header daprd puts on a service invocation from another app: the calling app's id.</summary>
    public const string CallerAppIdHeader = "dapr-caller-app-id";

    /// <summary>Requires the token on these endpoints when <c>APP_API_TOKEN</c> is set (401 otherwise).</summary>
    public static TBuilder RequireDaprAppToken<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddEndpointFilterFactory((factory, next) =>
        {
            var token = Read(factory.ApplicationServices.GetRequiredService<IConfiguration>());
            return token is null
                ? next
                : context => Matches(context.HttpContext.Request, token) ? next(context) : ValueTask.FromResult<object?>(Results.Unauthorized());
        });
        return builder;
    }
}
