using System.Diagnostics;
using System.Net;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>
/// Faults injected by the TCP fault proxy between the router and a shadow that every request is mirrored to, under load
/// (Envoy's shadow-policy tests: a shadow's fault leaves the primary at 200): no production request fails or is answered
/// by anyone but production, the fault shows in <c>/metrics</c> as failed or dropped copies, and copies reach the shadow
/// and are answered again once the fault ends (the time to recover is printed, not asserted).
/// </summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class ShadowFaultsUnderLoadTests
{
    private const int Total = 600;
    private const int Concurrency = 8;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Faults => ["reset", "blackhole", "half-open", "latency", "bandwidth"];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task FaultOnAMirroredShadowUnderLoad_NoProductionRequestFails_AndTheShadowAnswersCopiesAgainAfterwards(string fault)
    {
        var injected = fault switch
        {
            "reset" => new Fault(FaultKind.Reset),
            "blackhole" => new Fault(FaultKind.Blackhole),
            "half-open" => new Fault(FaultKind.HalfOpen),
            // Longer than the copy's timeout: every copy in the fault times out.
            "latency" => new Fault(FaultKind.Latency, Delay: TimeSpan.FromSeconds(3)),
            // A few hundred bytes a second: an answer (about 1 KB with its echo) takes longer than the copy's timeout.
            _ => new Fault(FaultKind.Bandwidth, BytesPerSecond: 300),
        };
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("s1");
        await using var proxy = FaultProxy.Start(shadow.Address);
        var table = new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = p1.Address.ToString(), MaxConcurrency = 100 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = proxy.Address.ToString(), State = ShadowState.WarmingUp, DataIsolated = true }],
            Mirror = new MirrorPolicy { Percent = 100, Timeout = TimeSpan.FromSeconds(1) },
        };
        await using var router = await RouterHost.StartAsync([table]);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency }) { BaseAddress = router.Address, Timeout = TimeSpan.FromSeconds(60) };
        var (failures, loadTime) = await ClientLoad.RunAsync(
            client,
            "orders",
            Total,
            Concurrency,
            n =>
            {
                if (n == Total / 4)
                {
                    proxy.Current = injected;
                }
            },
            async response => (await Table.ReadAsync(response)).Answer.Endpoint is var by && by != "p1" ? $"answered by {by}" : null,
            Ct);

        Assert.Empty(failures);
        Assert.Equal(Total, p1.Requests);

        // The fault is visible: copies failed at the shadow or dropped behind the ones stuck there.
        string metrics = "";
        double failed = 0, dropped = 0;
        await Eventually.WaitUntilAsync(async () =>
        {
            metrics = await router.MetricsAsync();
            failed = PrometheusText.Value(metrics, "shadowing_mirror_copies_total", ("service", "orders"), ("target", "s1"), ("result", "failed")) ?? 0;
            dropped = PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders")) ?? 0;
            return failed + dropped > 0;
        }, $"the {fault} shows as failed or dropped copies in /metrics", cancellationToken: Ct);

        // Stored for validation: a copy that got no answer in time is marked so, its latency at least the timeout (the
        // judge ranks it slowest); a reset says nothing of the shadow's speed and is not. Once three copies in a row have
        // timed out the shadow is stalled, and the copies not sent to it are stored as failures that say so (they can
        // fill the stored sample, whose slots keep a fixed number of copies by rank, so a real timeout need not be in it).
        if (fault is "reset" or "blackhole" or "latency")
        {
            static bool Unsent(EndpointAnswer c) => c.Error?.StartsWith("not sent", StringComparison.Ordinal) == true;
            List<EndpointAnswer> stored = [];
            await Eventually.WaitUntilAsync(async () => (stored = await StoredCopiesAsync(router)).Any(c => c.Status == 0), "failed copies stored for validation", cancellationToken: Ct);
            Assert.All(stored.Where(c => c.Status == 0 && !Unsent(c)), c => Assert.Equal((fault != "reset", fault != "reset"), (c.TimedOut, c.LatencyMs >= 1000)));
            Assert.All(stored.Where(Unsent), c => Assert.Equal((0, false), (c.Status, c.TimedOut)));
            if (fault == "reset")
            {
                Assert.DoesNotContain(stored, Unsent); // refused or reset at once: never stalled
            }
        }

        // Recovery: the fault ends; the shadow answers copies again.
        // (The test backends name themselves in their answers, so a delivered copy compares "differs".)
        double Answered(string text) =>
            (PrometheusText.Value(text, "shadowing_mirror_copies_total", ("service", "orders"), ("target", "s1"), ("result", "same")) ?? 0)
            + (PrometheusText.Value(text, "shadowing_mirror_copies_total", ("service", "orders"), ("target", "s1"), ("result", "differs")) ?? 0);
        var answeredBefore = Answered(await router.MetricsAsync());
        proxy.Current = Fault.None;
        var clock = Stopwatch.StartNew();
        await using (ClientLoad.Start(client, "orders", Ct))
        {
            await Eventually.WaitUntilAsync(async () => Answered(await router.MetricsAsync()) - answeredBefore >= 10, "the shadow answers copies again after the fault ends", cancellationToken: Ct);
        }

        var recovered = clock.Elapsed;
        metrics = await router.MetricsAsync();
        failed = PrometheusText.Value(metrics, "shadowing_mirror_copies_total", ("service", "orders"), ("target", "s1"), ("result", "failed")) ?? 0;
        dropped = PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders")) ?? 0;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{fault}: 0 of {Total} production requests failed in {loadTime.TotalMilliseconds:F0} ms; copies failed {failed}, dropped {dropped} by the end; " +
            $"the shadow answered copies again {recovered.TotalMilliseconds:F0} ms after the fault ended");
    }

    private static async Task<List<EndpointAnswer>> StoredCopiesAsync(RouterHost router)
    {
        var copies = new List<EndpointAnswer>();
        foreach (var key in await router.Store.ListKeysAsync(StateKeys.OutcomesPrefix + "orders/s1/", Ct))
        {
            if ((await router.Store.GetJsonAsync<OutcomeSlot>(key, Ct))?.Value is { } slot)
            {
                copies.AddRange(slot.Outcomes.Select(o => o.Copy));
            }
        }

        return copies;
    }
}
