using System.Diagnostics;
using Dapr.Client;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Dapr;
using Shadowing.Dapr.Messaging;
using Shadowing.Dapr.State;
using Shadowing.Router.Metrics;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Messaging;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>
/// Faults injected by the TCP fault proxy between the router's Dapr adapters and the sidecar (gRPC), under load: on the
/// state store the router keeps routing with its last good tables and says they are stale in <c>/metrics</c>; on the bus
/// mirrored requests that cannot be published are counted as dropped and per-minute records wait, counted; no client
/// request fails; after the fault, tables are fresh again, envelopes are published again and every waiting metric
/// record is published, the requests they count equal to the requests the endpoint served (the time to recover is
/// printed, not asserted).
/// </summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class StoreAndBusFaultsUnderLoadTests
{
    private const int Total = 600;
    private const int Concurrency = 8;

    // Short, so a test waits a second, not ten, for calls caught in a blackhole.
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(1);

    // A connection stuck in a blackhole or a half-open state is replaced after HTTP/2 pings go unanswered (15 s).
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromSeconds(45);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<FaultKind> Faults => [FaultKind.Reset, FaultKind.Blackhole, FaultKind.HalfOpen, FaultKind.Latency, FaultKind.Bandwidth];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task FaultOnTheStateStoreUnderLoad_NoClientRequestFails_TablesShowStale_AndFreshAgainAfterwards(FaultKind kind)
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var proxy = FaultProxy.Start(new Uri(sidecar.GrpcEndpoint));
        using var dapr = await ThroughProxyAsync(proxy, sidecar);
        var store = new DaprStateStore(dapr, TimeProvider.System);
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], sharedStore: store);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency }) { BaseAddress = router.Address, Timeout = TimeSpan.FromSeconds(60) };

        var (failures, loadTime) = await ClientLoad.RunAsync(client, "orders", Total, Concurrency, n =>
        {
            if (n == Total / 4)
            {
                proxy.Current = Injected(kind);
            }
        }, cancellationToken: Ct);
        Assert.Empty(failures);

        // The fault is visible: the tables cannot be refreshed, the router says it serves stale ones, and still routes.
        await using (ClientLoad.Start(client, "orders", Ct))
        {
            await Eventually.WaitUntilAsync(async () => Stale(await router.MetricsAsync()) == 1, $"the store's {kind} shows as stale routing tables in /metrics", RecoveryLimit, Ct);
        }

        proxy.Current = Fault.None;
        var clock = Stopwatch.StartNew();
        await using (ClientLoad.Start(client, "orders", Ct))
        {
            await Eventually.WaitUntilAsync(async () => Stale(await router.MetricsAsync()) == 0, "the routing tables are read again after the fault ends", RecoveryLimit, Ct);
        }

        var recovered = clock.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"store {kind}: 0 of {Total} client requests failed in {loadTime.TotalMilliseconds:F0} ms; tables fresh again {recovered.TotalMilliseconds:F0} ms after the fault ended");
    }

    [Theory]
    [InlineData(FaultKind.Reset)]
    [InlineData(FaultKind.Blackhole)]
    [InlineData(FaultKind.HalfOpen)]
    [InlineData(FaultKind.Latency)]
    [InlineData(FaultKind.Bandwidth)]
    public async Task FaultOnTheBusUnderLoad_NoClientRequestFails_LostEnvelopesCounted_MetricRecordsWaitAndAreAllPublishedAfterwards(FaultKind kind)
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var proxy = FaultProxy.Start(new Uri(sidecar.GrpcEndpoint));
        using var dapr = await ThroughProxyAsync(proxy, sidecar);
        var bus = new DaprEventBus(dapr);
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        var table = Table.For("orders", [p1]) with
        {
            Shadows = [new ShadowEndpoint { Id = "s1", Address = s1.Address.ToString(), State = ShadowState.WarmingUp, DataIsolated = true }],
            Mirror = new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, TimeToLive = TimeSpan.FromMinutes(2) },
        };
        await using var router = await RouterHost.StartAsync(
            [table],
            services: s =>
            {
                s.AddSingleton(bus);
                s.AddSingleton<IEventBus>(bus);
            });
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency }) { BaseAddress = router.Address, Timeout = TimeSpan.FromSeconds(60) };
        var recorder = router.App.Services.GetRequiredService<MinuteRecorder>();

        var (failures, loadTime) = await ClientLoad.RunAsync(client, "orders", Total, Concurrency, n =>
        {
            if (n == Total / 4)
            {
                proxy.Current = Injected(kind);
            }
        }, cancellationToken: Ct);
        Assert.Empty(failures);

        // The fault is visible: envelopes dropped as unpublishable, and metric records waiting.
        await using (ClientLoad.Start(client, "orders", Ct))
        {
            await Eventually.WaitUntilAsync(async () => Dropped(await router.MetricsAsync(), "publish_failed") > 0, $"the bus's {kind} shows as envelopes dropped in /metrics", RecoveryLimit, Ct);
        }

        await recorder.FlushAsync(DateTimeOffset.MaxValue, Ct);
        Assert.True(recorder.PendingRecords > 0, "metric records wait while the bus fails");
        var waiting = recorder.PendingRecords;
        await Eventually.WaitUntilAsync( // the exporter caches a scrape for a moment
            async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_metric_records_pending") == waiting,
            $"the {waiting} waiting metric records in /metrics",
            cancellationToken: Ct);

        // Recovery: envelopes are published again, the sidecar's answers counted by the router (a half-open connection
        // still delivers envelopes to the sidecar, so its count alone would not show recovery).
        var publishedBefore = Published(await router.MetricsAsync());
        proxy.Current = Fault.None;
        var clock = Stopwatch.StartNew();
        await using (ClientLoad.Start(client, "orders", Ct))
        {
            await Eventually.WaitUntilAsync(async () => Published(await router.MetricsAsync()) - publishedBefore >= 10, "envelopes are published again after the fault ends", RecoveryLimit, Ct);
        }

        var recovered = clock.Elapsed;

        // Counted at both ends, once traffic stopped and the queue drained. Mirror envelopes: each request mirrored was
        // published (and the sidecar has it) or counted as dropped. Metric records: all published, and the requests they
        // count are the requests the endpoint served, none lost, none twice.
        // (Counters move at different moments of a copy's life, and a scrape is cached briefly: wait for them to agree.)
        string metrics = "";
        double? mirrored = null;
        double published = 0, dropped = 0;
        await Eventually.WaitUntilAsync(
            async () =>
            {
                metrics = await router.MetricsAsync();
                mirrored = PrometheusText.Value(metrics, "shadowing_mirror_decisions_total", ("service", "orders"), ("result", "mirrored"));
                published = Published(metrics);
                dropped = PrometheusText.Sum(metrics, "shadowing_mirror_dropped_total", ("service", "orders"));
                return mirrored == published + dropped;
            },
            "every mirrored request published or counted as dropped",
            cancellationToken: Ct);
        Assert.InRange<double>(Envelopes(sidecar), published, published + Dropped(metrics, "publish_failed"));
        if (kind == FaultKind.HalfOpen)
        {
            // Half-open: publishes reached the sidecar, their answers did not come back: counted as failed, yet landed.
            Assert.True(Envelopes(sidecar) > published, $"the sidecar holds envelopes counted as publish_failed ({Envelopes(sidecar)} held, {published} answered)");
        }

        await Eventually.WaitUntilAsync(
            async () =>
            {
                await recorder.FlushAsync(DateTimeOffset.MaxValue, Ct);
                return recorder.PendingRecords == 0;
            },
            "every waiting metric record published",
            RecoveryLimit,
            Ct);
        // A publish whose answer came too late (latency, bandwidth) or never (half-open) was applied and is published again: a consumer takes
        // each record once by its id. Sent: every record the router wrote to the store (the day documents keep their ids).
        // The router still records each minute (zero records, written then published): compared until a read falls
        // between two of its flushes.
        List<EndpointMinuteRecord> records = [];
        DeliveryCheck? check = null;
        await Eventually.WaitUntilAsync(
            async () =>
            {
                var written = new List<string>();
                foreach (var key in await router.Store.ListKeysAsync($"{StateKeys.MetricsPrefix}orders/", Ct))
                {
                    written.AddRange((await router.Store.GetJsonAsync<EndpointMetricsDay>(key, Ct))!.Value.Minutes.SelectMany(m => m.RecordIds));
                }

                records = [.. sidecar.State.Published.Where(e => e.Topic == Topics.Metrics).Select(e => ShadowingJson.Deserialize<EndpointMinuteRecord>(e.Data))];
                check = DeliveryCheck.Of(written, records.Select(r => Assert.Single(r.RecordIds)), []);
                return check.Holds;
            },
            "every metric record written to the store published",
            cancellationToken: Ct);
        Assert.Equal<long>(p1.Requests, records.Where(r => r.EndpointId == "p1").DistinctBy(r => r.RecordIds[0]).Sum(r => r.Requests));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"bus {kind}: 0 of {Total} client requests failed in {loadTime.TotalMilliseconds:F0} ms; envelopes published again {recovered.TotalMilliseconds:F0} ms after the fault ended; " +
            $"mirrored {mirrored} = published {published} + dropped {dropped} (publish_failed {Dropped(metrics, "publish_failed")}); the sidecar holds {Envelopes(sidecar)}; " +
            $"metric records: {check}; they count {p1.Requests} requests to p1, as p1 served");
    }

    /// <summary>
    /// The fault of that kind; latency and bandwidth slow enough that a call outlasts its deadline (a few hundred bytes a
    /// second: a routing table, or a mirror envelope with its headers, takes longer than a second to pass).
    /// </summary>
    private static Fault Injected(FaultKind kind) => kind switch
    {
        FaultKind.Latency => new Fault(kind, Delay: 2 * CallTimeout),
        FaultKind.Bandwidth => new Fault(kind, BytesPerSecond: 300),
        _ => new Fault(kind),
    };

    /// <summary>The product's Dapr client (call deadline, connection pings) with its gRPC calls through the proxy.</summary>
    /// <summary>
    /// A client through the proxy whose connection is open: the first call (the HTTP/2 handshake, cold code) has the same
    /// short deadline, so it is retried until it lands, and only the injected fault can fail a call.
    /// </summary>
    private static async Task<DaprClient> ThroughProxyAsync(FaultProxy proxy, FakeDaprSidecar sidecar)
    {
        var dapr = DaprSidecarClient.Build(new DaprClientBuilder().UseGrpcEndpoint(proxy.Address.ToString().TrimEnd('/')).UseHttpEndpoint(sidecar.HttpEndpoint), TimeProvider.System, CallTimeout);
        var store = new DaprStateStore(dapr, TimeProvider.System);
        await Eventually.WaitUntilAsync(
            async () =>
            {
                try
                {
                    await store.GetAsync("warm-up", Ct);
                    return true;
                }
                catch (StateStoreException)
                {
                    return false;
                }
            },
            "a first call through the proxy",
            cancellationToken: Ct);
        return dapr;
    }

    private static double? Stale(string metrics) => PrometheusText.Value(metrics, "shadowing_router_routing_table_stale");

    private static double Dropped(string metrics, string reason) =>
        PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", reason)) ?? 0;

    private static double Published(string metrics) =>
        PrometheusText.Value(metrics, "shadowing_mirror_copies_total", ("service", "orders"), ("result", "published")) ?? 0;

    private static int Envelopes(FakeDaprSidecar sidecar) => sidecar.State.Published.Count(e => e.Topic == "mirror.orders");
}
