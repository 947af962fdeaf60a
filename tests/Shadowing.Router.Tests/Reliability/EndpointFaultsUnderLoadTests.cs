using System.Diagnostics;
using System.Net;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>
/// Faults injected by the TCP fault proxy between the router and one of two production endpoints, under load: while a
/// healthy alternative exists no idempotent client request fails, the fault shows in <c>/metrics</c>, and the endpoint
/// serves again after the fault ends (the time to recover is printed, not asserted).
/// </summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class EndpointFaultsUnderLoadTests
{
    private const int Total = 1000;
    private const int Concurrency = 8;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Faults => ["reset", "blackhole", "half-open", "latency", "bandwidth"];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task FaultOnOneProductionEndpointUnderLoad_NoClientRequestFails_AndItServesAgainAfterwards(string kind)
    {
        var injected = kind switch
        {
            "reset" => new Fault(FaultKind.Reset),
            "blackhole" => new Fault(FaultKind.Blackhole),
            "half-open" => new Fault(FaultKind.HalfOpen),
            // Longer than the response timeout below: every request caught in it times out and is retried on p1.
            "latency" => new Fault(FaultKind.Latency, Delay: TimeSpan.FromSeconds(4)),
            // A hundred bytes a second: an answer (about 1 KB with its echo) takes about 10 s, a probe's answer longer than
            // the probe's timeout.
            _ => new Fault(FaultKind.Bandwidth, BytesPerSecond: 100),
        };
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var proxy = FaultProxy.Start(p2.Address);
        var table = Table.For("orders", [p1, p2]);
        table = table with { Production = [table.Production[0], table.Production[1] with { Address = proxy.Address.ToString() }] };
        // Requests caught in a blackhole wait Forwarding:ResponseTimeout (30 s by default) before they are retried
        // elsewhere: 3 s keeps the test short; the stall itself is the setting's to bound.
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:Forwarding:ResponseTimeout"] = "00:00:03" });
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency }) { BaseAddress = router.Address, Timeout = TimeSpan.FromSeconds(60) };
        var (failures, loadTime) = await ClientLoad.RunAsync(client, "orders", Total, Concurrency, n =>
        {
            if (n == Total / 4)
            {
                proxy.Current = injected;
            }
        }, cancellationToken: Ct);

        Assert.Empty(failures);
        var metrics = await router.MetricsAsync();
        var failovers = PrometheusText.Value(metrics, "shadowing_router_decisions_total", ("service", "orders"), ("reason", "failover"));
        var ejected = await router.ProbeStatusAsync("p2");
        Assert.True(failovers >= 1 || ejected == "Unhealthy", $"the fault is visible: failovers {failovers}, p2's probe {ejected}");

        // Recovery: the fault ends; p2 serves again once its probes pass.
        var servedBefore = p2.Requests;
        proxy.Current = Fault.None;
        var clock = Stopwatch.StartNew();
        await using (ClientLoad.Start(client, "orders", Ct))
        {
            await Eventually.WaitUntilAsync(() => p2.Requests - servedBefore >= 10, "p2 serves again after the fault ends", cancellationToken: Ct);
        }

        var recovered = clock.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: 0 of {Total} client requests failed in {loadTime.TotalMilliseconds:F0} ms; failovers {failovers}, p2's probe after the load {ejected}; p2 served again {recovered.TotalMilliseconds:F0} ms after the fault ended");
    }
}
