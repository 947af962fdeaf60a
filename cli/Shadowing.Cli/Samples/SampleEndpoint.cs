using System.Net;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;

namespace Shadowing.Cli.Samples;

/// <summary>
/// A small service standing in for a real one: <c>/healthz</c> answers 200; every other path takes a slot
/// out of <see cref="SampleEndpointOptions.Capacity"/> (waiting in line when all are busy), works for
/// <see cref="SampleEndpointOptions.LatencyMs"/>, and fails with 500 at <see cref="SampleEndpointOptions.ErrorRate"/>.
/// With a data store it also has a small data API on its own data (production: <c>data/{service}/…</c>; a shadow with a
/// copy: <c>shadow-data/{service}/{shadow}/…</c>): <c>GET /data</c> lists keys, <c>GET|PUT|DELETE /data/{key}</c> reads,
/// writes (the body, as JSON) and deletes one record. Production's writes are what data sync copies to shadows; a shadow's
/// writes (mirrored ones included) land in its own copy, never in production's.
/// </summary>
internal static class SampleEndpoint
{
    /// <summary>Builds the endpoint's web app on 127.0.0.1.</summary>
    public static WebApplication Build(string service, SampleEndpointOptions options, IRandomSource random, TimeProvider time, IStateStore? data = null, string? dataPrefix = null)
    {
        var builder = Shadowing.Embedded.Workflows.InternalWebApplication.CreateBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, options.Port));
        var app = builder.Build();
        var slots = new SemaphoreSlim(options.Capacity, options.Capacity);
        var randomLock = new Lock();
        long served = 0;
        app.Run(async context =>
        {
            if (context.Request.Path == "/healthz")
            {
                await context.Response.WriteAsJsonAsync(new { status = "Healthy", endpoint = options.Id }, context.RequestAborted).ConfigureAwait(false);
                return;
            }

            if (data is not null && (context.Request.Path == "/data" || context.Request.Path.StartsWithSegments("/data", out _)))
            {
                await DataAsync(context, data, dataPrefix ?? StateKeys.Data(service)).ConfigureAwait(false);
                return;
            }

            await slots.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            try
            {
                if (options.LatencyMs > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(options.LatencyMs), time, context.RequestAborted).ConfigureAwait(false);
                }

                bool fail;
                lock (randomLock)
                {
                    fail = random.NextDouble() < options.ErrorRate;
                }

                context.Response.StatusCode = fail ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
                await context.Response.WriteAsJsonAsync(
                    new
                    {
                        service,
                        endpoint = options.Id,
                        method = context.Request.Method,
                        path = context.Request.Path.Value,
                        served = Interlocked.Increment(ref served),
                        error = fail ? "injected error" : null,
                    },
                    context.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                slots.Release();
            }
        });
        return app;
    }

    private static async Task DataAsync(HttpContext context, IStateStore data, string prefix)
    {
        var key = context.Request.Path.Value!.Length > "/data/".Length ? context.Request.Path.Value["/data/".Length..] : string.Empty;
        var cancellationToken = context.RequestAborted;
        try
        {
            switch (context.Request.Method)
            {
                case "GET" when key.Length == 0:
                    var keys = await data.ListKeysAsync(prefix, cancellationToken).ConfigureAwait(false);
                    await context.Response.WriteAsJsonAsync(new { prefix, keys = keys.Select(k => k[prefix.Length..]) }, cancellationToken).ConfigureAwait(false);
                    break;
                case "GET":
                    if (await data.GetAsync(prefix + key, cancellationToken).ConfigureAwait(false) is { } item)
                    {
                        context.Response.ContentType = "application/json";
                        await context.Response.Body.WriteAsync(item.Value, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        context.Response.StatusCode = StatusCodes.Status404NotFound;
                    }

                    break;
                case "PUT" when key.Length > 0:
                    using (var body = new MemoryStream())
                    {
                        await context.Request.Body.CopyToAsync(body, cancellationToken).ConfigureAwait(false);
                        await data.SaveAsync(prefix + key, body.ToArray(), etag: null, cancellationToken).ConfigureAwait(false);
                    }

                    context.Response.StatusCode = StatusCodes.Status204NoContent;
                    break;
                case "DELETE" when key.Length > 0:
                    await data.DeleteAsync(prefix + key, etag: null, cancellationToken).ConfigureAwait(false);
                    context.Response.StatusCode = StatusCodes.Status204NoContent;
                    break;
                default:
                    context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                    break;
            }
        }
        catch (ArgumentException ex)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsJsonAsync(new { error = $"bad key '{key}': {ex.Message}" }, cancellationToken).ConfigureAwait(false);
        }
    }
}
