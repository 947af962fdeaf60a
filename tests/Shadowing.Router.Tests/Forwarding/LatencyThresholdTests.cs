using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Forwarding;

/// <summary>
/// <c>maxLatencyMs</c> judges the endpoint's own latency (to its response headers), not how slowly a client sends a
/// body or reads an answer.
/// </summary>
public sealed class LatencyThresholdTests
{
    private static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(1500);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SlowClient_SendingOrReadingABody_DoesNotMakeProductionLookSlow()
    {
        await using var p1 = await StartProductionAsync();
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await StartRouterAsync(p1, shadow);
        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/fast"));

        // The answer's headers come at once, its body over 1.5 s: the client reads it as it comes.
        using (var streamed = await router.Client.GetAsync(new Uri("/orders/stream", UriKind.Relative), HttpCompletionOption.ResponseContentRead, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        }

        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/fast"));

        // The body trickles in over 1.5 s; the endpoint answers as soon as it has read it.
        using (var content = new TrickleContent(10, Slow / 10))
        using (var uploaded = await router.Client.PutAsync(new Uri("/orders/upload", UriKind.Relative), content, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        }

        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/fast"));
    }

    [Fact]
    public async Task EveryProductionEndpointOverItsLatencyLimit_NoShadowNoDefault_ProductionStillAnswers_CountedAsOverLatency()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var fallback = await TestBackend.StartAsync("fallback");
        var table = Table.For("orders", [p1]);
        var slowLimit = table with { Production = [table.Production[0] with { MaxLatencyMs = 100 }] };
        await using var router = await RouterHost.StartAsync(
            [slowLimit, Table.For("billing", [p1], fallback: fallback) with { Production = slowLimit.Production }],
            new Dictionary<string, string?> { ["Router:LatencyMinSamples"] = "1", ["Router:LatencyRecheckInterval"] = "00:10:00" });
        p1.Delay = TimeSpan.FromMilliseconds(400);
        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/slow")); // cold: taken, and judged 400 ms
        Assert.Equal("p1", await EndpointOfAsync(router, "/billing/slow"));

        // Over its limit, with nothing faster to send to: still p1, slowly, rather than a 503 for every client.
        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/next"));
        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/again"));
        Assert.Equal(2, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "production"), ("reason", "over_latency")));

        // With a default (an operator's chosen place to shed to), the design's order holds: the default takes it.
        Assert.Equal("fallback", await EndpointOfAsync(router, "/billing/next"));
    }

    [Fact]
    public async Task AnEndpointBackFromUnhealthy_IsJudgedCold_NotByTheLatencyOfTheProcessBefore()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        var table = Table.For("orders", [p1], [shadow]);
        await using var router = await RouterHost.StartAsync(
            [table with { Production = [table.Production[0] with { MaxLatencyMs = 100 }] }],
            new Dictionary<string, string?>(RouterHost.FastHealthChecks) { ["Router:LatencyMinSamples"] = "1", ["Router:LatencyRecheckInterval"] = "00:10:00" });
        p1.Delay = TimeSpan.FromMilliseconds(400);
        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/slow")); // cold: taken, and judged 400 ms
        Assert.Equal("shadow", await EndpointOfAsync(router, "/orders/next"));

        // Restarted: down for probes, then up again and fast.
        p1.Healthy = false;
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p1"), "p1 is unhealthy", cancellationToken: Ct);
        p1.Delay = TimeSpan.Zero;
        p1.Healthy = true;
        await Eventually.WaitUntilAsync(async () => await router.IsAvailableAsync("p1"), "p1 is healthy again", cancellationToken: Ct);

        Assert.Equal("p1", await EndpointOfAsync(router, "/orders/after")); // not overloaded by the 400 ms of the process before
    }

    [Fact]
    public async Task SlowClientUpload_Mirrored_ProductionsBaselineIsItsOwnLatency_NotTheClients()
    {
        // The copy's latency is the shadow's own (its body is in memory); production's, the baseline the copy is judged
        // against, must not hold the 1.5 s the client took to send the body, or a far slower shadow would look faster.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        shadow.Delay = TimeSpan.FromMilliseconds(300);
        await using var router = await RouterHost.StartAsync([Mirroring.MirroringTests.With(p1, [(shadow, true)], new MirrorPolicy { Percent = 100, Methods = ["PUT"] })]);
        var outcomes = Mirroring.MirroringTests.Collect(router);

        using (var content = new TrickleContent(10, Slow / 10))
        using (var uploaded = await router.Client.PutAsync(new Uri("/orders/upload", UriKind.Relative), content, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        }

        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the copy's outcome", cancellationToken: Ct);
        var outcome = Assert.Single(outcomes);
        Assert.Equal((200, 200), (outcome.Production.Status, outcome.Copy.Status));
        Assert.True(outcome.Production.LatencyMs < outcome.Copy.LatencyMs, $"production {outcome.Production.LatencyMs} ms, the shadow {outcome.Copy.LatencyMs} ms");
    }

    private static async Task<string> EndpointOfAsync(RouterHost router, string path)
    {
        using var response = await router.Client.GetAsync(new Uri(path, UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Single(response, "x-shadowing-endpoint");
    }

    private static string Single(HttpResponseMessage response, string header) => response.Headers.GetValues(header).Single();

    private static async Task<RouterHost> StartRouterAsync(WebApplication p1, TestBackend shadow) =>
        await RouterHost.StartAsync(
            [
                new RoutingTable
                {
                    Service = "orders",
                    Production = [new ProductionEndpoint { Id = "p1", Address = LoopbackApp.AddressOf(p1).ToString(), MaxConcurrency = 100, MaxLatencyMs = 1000 }],
                    Shadows = [new ShadowEndpoint { Id = "shadow", Address = shadow.Address.ToString(), State = ShadowState.PreWarmed }],
                },
            ],
            new Dictionary<string, string?>
            {
                ["Router:ActiveHealthChecks:Enabled"] = "false", // probes would fold their own latency in and hide the request's
                // Each answer alone is the average, capped at twice the limit: a cold first answer of a few hundred ms on a
                // busy machine stays under 1 s, and the 1.5 s of a slow client, if it were counted, would be over.
                ["Router:LatencyMinSamples"] = "1",
                ["Router:LatencyEwmaAlpha"] = "1",
                ["Router:OutlierDetection:ConsecutiveFailures"] = "100",
            });

    private static Task<WebApplication> StartProductionAsync() => LoopbackApp.StartAsync(null, app =>
    {
        app.MapGet("/fast", () => "fast");
        app.MapGet("/stream", async (HttpContext context) =>
        {
            for (var i = 0; i < 10; i++)
            {
                await context.Response.WriteAsync("chunk ", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(Slow / 10, TimeProvider.System, context.RequestAborted);
            }
        });
        app.MapPut("/upload", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            return Results.Text($"read {(await reader.ReadToEndAsync(context.RequestAborted)).Length}");
        });
    });

    /// <summary>
    /// A request body of <paramref name="chunks"/> one-byte chunks, one every <paramref name="gap"/>, each flushed (the
    /// client's handler would otherwise hold small writes back and send them together); no length up front.
    /// </summary>
    private sealed class TrickleContent(int chunks, TimeSpan gap) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            for (var i = 0; i < chunks; i++)
            {
                await Task.Delay(gap, TimeProvider.System, cancellationToken);
                await stream.WriteAsync("x"u8.ToArray(), cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
