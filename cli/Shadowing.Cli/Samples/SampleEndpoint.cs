using System.Net;
using Shadowing.Core.Randomness;

namespace Shadowing.Cli.Samples;

/// <summary>
/// A small service standing in for a real one: <c>/healthz</c> answers 200; every other path takes a slot
/// out of <see cref="SampleEndpointOptions.Capacity"/> (waiting in line when all are busy), works for
/// <see cref="SampleEndpointOptions.LatencyMs"/>, and fails with 500 at <see cref="SampleEndpointOptions.ErrorRate"/>.
/// </summary>
internal static class SampleEndpoint
{
    /// <summary>Builds the endpoint's web app on 127.0.0.1.</summary>
    public static WebApplication Build(string service, SampleEndpointOptions options, IRandomSource random, TimeProvider time)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
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
}
