using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Router.Alerts;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Routing;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Routing;

[Collection(nameof(RouterMetricsCollection))]
public sealed class RoutingTableCacheTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StoreOutage_RouterKeepsRoutingOnLastGoodTable_AndHealthzSaysStale()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);
        Assert.Equal("Healthy", (await router.HealthAsync()).GetProperty("status").GetString());

        router.Store.Failing = true;
        await Eventually.WaitUntilAsync(async () => (await router.HealthAsync()).GetProperty("routingTables").GetProperty("stale").GetBoolean(), "healthz reports stale tables", cancellationToken: Ct);

        var health = await router.HealthAsync();
        using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("p1", (await Table.ReadAsync(response)).Answer.Endpoint);
        Assert.Equal("Degraded", health.GetProperty("status").GetString());
        Assert.Contains("store unavailable", health.GetProperty("routingTables").GetProperty("lastError").GetString(), StringComparison.Ordinal);
        // Eventually: the Prometheus exporter may answer a scrape from its response cache (a few hundred ms), and a
        // CI run once read 0 here right after /healthz said stale.
        await Eventually.WaitUntilAsync(async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_routing_table_stale") == 1, "the stale gauge reads 1", cancellationToken: Ct);

        router.Store.Failing = false;
        await Eventually.WaitUntilAsync(async () => (await router.HealthAsync()).GetProperty("status").GetString() == "Healthy", "the router recovers once the store answers", cancellationToken: Ct);
    }

    [Fact]
    public async Task StoreDownAtStart_Answers503AndUnhealthyUntilTablesLoad()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], storeDownAtStart: true);

        using var early = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        using var health = await router.Client.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
        Assert.Equal("routing_not_loaded", (await early.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("reason").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);

        router.Store.Failing = false;
        await Eventually.WaitUntilAsync(async () => (await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct)).StatusCode == HttpStatusCode.OK, "the tables load once the store answers", cancellationToken: Ct);
    }

    [Fact]
    public async Task RoutingChanged_NewShadowState_UsedWithoutWaitingForPoll()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        var table = Table.For("orders", [p1]) with
        {
            Shadows = [new ShadowEndpoint { Id = "shadow", Address = shadow.Address.ToString(), State = Core.Shadows.ShadowState.Validating }],
        };
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:PollInterval"] = "01:00:00" });
        p1.Healthy = false;
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p1"), "p1 is unhealthy", cancellationToken: Ct);
        using (var before = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode); // a Validating shadow takes no traffic
        }

        await router.Tables.UpdateAsync("orders", t => t!.WithShadowState("shadow", Core.Shadows.ShadowState.PreWarmed, DateTimeOffset.UnixEpoch), Ct);

        await Eventually.WaitUntilAsync(async () => (await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct)).StatusCode == HttpStatusCode.OK, "the PreWarmed shadow takes traffic", cancellationToken: Ct);
    }

    [Fact]
    public async Task Poll_TableChangedBehindTheRoutersBack_PickedUp()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        // Written straight into the store: no routing-changed event, only the poll can see it.
        await router.Store.SaveJsonAsync(StateKeys.Routing("orders"), Table.For("orders", [p2]), cancellationToken: Ct);

        await Eventually.WaitUntilAsync(async () => (await Table.ReadAsync(await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct))).Answer.Endpoint == "p2", "the poll swaps in the new table", cancellationToken: Ct);
    }

    [Fact]
    public async Task OneTableUnreadable_TheOthersStillRefreshed_TheTablesStaleUntilItIsRead_AndTheAlertRepeatedUntilItGetsOut()
    {
        var time = Clock();
        var store = new UnreadableKeys(new InMemoryStateStore());
        var bus = Substitute.For<IEventBus>();
        var tables = new RoutingTableStore(store, bus);
        await tables.PutAsync(Service("orders", "o1"), Ct);
        await tables.PutAsync(Service("billing", "b1"), Ct);
        using var harness = new CacheHarness(tables, bus, time);
        var (cache, alerts) = (harness.Cache, harness.Alerts);
        await alerts.StartAsync(Ct);
        Assert.True(await cache.RefreshAllAsync(Ct));

        // The bus shares the store's backend: the first alert of the outage cannot be published.
        var published = new List<Alert>();
        bus.PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>()).Returns(
            _ => throw new Core.Messaging.EventBusException("bus down"),
            call =>
            {
                published.Add(call.Arg<Alert>());
                return Task.CompletedTask;
            });
        store.Unreadable.Add(StateKeys.Routing("billing"));
        await tables.PutAsync(Service("orders", "o2"), Ct);

        Assert.False(await cache.RefreshAllAsync(Ct));
        Assert.Equal("o2", cache.Current.Services["orders"].Table.Production[0].Id);
        Assert.Equal("b1", cache.Current.Services["billing"].Table.Production[0].Id);
        Assert.True(cache.Status.Stale);

        // An event's refresh of one service does not say every table is current.
        await cache.RefreshServiceAsync("orders", Ct);
        Assert.True(cache.Status.Stale);

        await Eventually.WaitUntilAsync(() => bus.ReceivedCalls().Any(c => c.GetArguments().FirstOrDefault() as string == Topics.Alerts), "the first alert's publish tried", cancellationToken: Ct);
        time.Advance(AlertPublisher.RepeatInterval);
        Assert.False(await cache.RefreshAllAsync(Ct));
        await Eventually.WaitUntilAsync(() => published.Count == 1, "the alert raised again, once the bus is back", cancellationToken: Ct);
        Assert.Equal(AlertKind.StaleRoutingTable, published[0].Kind);

        store.Unreadable.Clear();
        Assert.True(await cache.RefreshAllAsync(Ct));
        Assert.False(cache.Status.Stale);
        await alerts.StopAsync(Ct);
    }

    [Fact]
    public async Task OneTableUnreadableFromTheStart_TheOthersLoad_ItStaysUnreadUntilItIsRead()
    {
        // Before, the router stayed "not loaded": /healthz 503 on every replica and every service unrouted, for one key.
        var time = Clock();
        var store = new UnreadableKeys(new InMemoryStateStore());
        var bus = Substitute.For<IEventBus>();
        var tables = new RoutingTableStore(store, bus);
        await tables.PutAsync(Service("orders", "o1"), Ct);
        await tables.PutAsync(Service("billing", "b1"), Ct);
        store.Unreadable.Add(StateKeys.Routing("billing"));
        using var harness = new CacheHarness(tables, bus, time);
        var cache = harness.Cache;

        Assert.False(await cache.RefreshAllAsync(Ct));

        Assert.True(cache.Status.Loaded);
        Assert.True(cache.Status.Stale);
        Assert.Equal("o1", cache.Current.Services["orders"].Table.Production[0].Id);
        Assert.Contains("billing", (IReadOnlySet<string>)cache.Current.Unread);
        await cache.RefreshServiceAsync("orders", Ct); // an event's refresh of another service keeps it unread
        Assert.Contains("billing", (IReadOnlySet<string>)cache.Current.Unread);

        store.Unreadable.Clear();
        Assert.True(await cache.RefreshAllAsync(Ct));
        Assert.Empty(cache.Current.Unread);
        Assert.Equal("b1", cache.Current.Services["billing"].Table.Production[0].Id);
    }

    [Fact]
    public async Task OneTableUnreadableFromTheStart_RouterServesTheOthers_Degraded_AndThatServiceIs503()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        using var sqlite = new Shadowing.Embedded.State.SqliteStateStore(Shadowing.Embedded.State.SqliteStateStore.InMemory, TimeProvider.System);
        await new RoutingTableStore(sqlite, Substitute.For<IEventBus>()).PutAsync(Service("billing", "b1"), Ct);
        var store = new UnreadableKeys(sqlite);
        store.Unreadable.Add(StateKeys.Routing("billing"));
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], sharedStore: store);

        using var orders = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        using var billing = await router.Client.GetAsync(new Uri("/billing/x", UriKind.Relative), Ct);
        using var unknown = await router.Client.GetAsync(new Uri("/nothing/x", UriKind.Relative), Ct);
        using var health = await router.Client.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);

        Assert.Equal("p1", (await Table.ReadAsync(orders)).Answer.Endpoint);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, HttpStatusCode.NotFound, HttpStatusCode.OK), (billing.StatusCode, unknown.StatusCode, health.StatusCode));
        Assert.Contains("Degraded", await health.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OneTableUnreadableFromTheStart_ItsMirrorTopicIsStillInTheSubscriptionsDaprdReads()
    {
        // daprd reads the subscriptions once, when the router first reports healthy: Degraded, with one table unread.
        await using var sidecar = await Shadowing.TestUtilities.Dapr.FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateClient();
        var bus = new Shadowing.Dapr.Messaging.DaprEventBus(dapr);
        await using var p1 = await TestBackend.StartAsync("p1");
        using var sqlite = new Shadowing.Embedded.State.SqliteStateStore(Shadowing.Embedded.State.SqliteStateStore.InMemory, TimeProvider.System);
        await new RoutingTableStore(sqlite, Substitute.For<IEventBus>()).PutAsync(Service("billing", "b1"), Ct);
        var store = new UnreadableKeys(sqlite);
        store.Unreadable.Add(StateKeys.Routing("billing"));
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], sharedStore: store, services: s =>
        {
            s.AddSingleton(bus);
            s.AddSingleton<IEventBus>(bus);
        });

        var subscriptions = await sidecar.State.PubSub.LoadFromAppAsync(router.Address, Ct);

        Assert.Contains(subscriptions, s => s.Topic == Topics.Mirror("billing"));
        Assert.DoesNotContain(subscriptions, s => s.Topic == Topics.Mirror("orders")); // read: no pub/sub mirroring
    }

    [Fact]
    public async Task APollsRecompile_KeepsTheServicesDecisionLogGate()
    {
        // A new gate at every poll forgot how many lines it held back, and let the failover alert behind it through again.
        var time = Clock();
        var bus = Substitute.For<IEventBus>();
        var tables = new RoutingTableStore(new InMemoryStateStore(), bus);
        await tables.PutAsync(Service("orders", "o1"), Ct);
        using var harness = new CacheHarness(tables, bus, time);
        var cache = harness.Cache;
        Assert.True(await cache.RefreshAllAsync(Ct));
        var gate = cache.Current.Services["orders"].DecisionLog;

        Assert.True(await cache.RefreshAllAsync(Ct));

        Assert.Same(gate, cache.Current.Services["orders"].DecisionLog);
    }

    [Fact]
    public async Task EveryTableUnreadable_NotLoaded()
    {
        var time = Clock();
        var store = new UnreadableKeys(new InMemoryStateStore());
        var bus = Substitute.For<IEventBus>();
        var tables = new RoutingTableStore(store, bus);
        await tables.PutAsync(Service("orders", "o1"), Ct);
        store.Unreadable.Add(StateKeys.Routing("orders"));
        using var harness = new CacheHarness(tables, bus, time);
        var cache = harness.Cache;

        Assert.False(await cache.RefreshAllAsync(Ct));

        Assert.False(cache.Status.Loaded);
    }

    [Fact]
    public async Task StoredTableInvalid_PreviousVersionKept_WithNoneItsRequestsAre503AndTheRouterDegraded()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        await router.Store.SaveAsync(StateKeys.Routing("orders"), ShadowingJson.Serialize(new { service = "orders", production = new[] { new { id = "p1", address = "ftp://bad", maxConcurrency = 1 } } }), null, Ct);
        var cache = router.App.Services.GetRequiredService<Shadowing.Router.Routing.RoutingTableCache>();
        Assert.True(await cache.RefreshAllAsync(Ct));

        using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        Assert.Equal("p1", (await Table.ReadAsync(response)).Answer.Endpoint);
        Assert.False((await router.HealthAsync()).GetProperty("routingTables").GetProperty("stale").GetBoolean());

        // With no version to keep (a router rolled back past the version that wrote it), 503 and Degraded, never a 404 that
        // no client retries while /healthz says Healthy.
        await router.Store.SaveAsync(StateKeys.Routing("broken"), "not json"u8.ToArray(), null, Ct);
        await router.Store.SaveAsync(StateKeys.Routing("billing"), ShadowingJson.Serialize(new { service = "billing", production = new[] { new { id = "b1", address = "http://127.0.0.1:1", maxConcurrency = 0 } } }), null, Ct);
        Assert.False(await cache.RefreshAllAsync(Ct));

        using var broken = await router.Client.GetAsync(new Uri("/broken/x", UriKind.Relative), Ct);
        using var billing = await router.Client.GetAsync(new Uri("/billing/x", UriKind.Relative), Ct);
        using var orders = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        var health = await router.HealthAsync();
        Assert.Equal((HttpStatusCode.ServiceUnavailable, HttpStatusCode.ServiceUnavailable), (broken.StatusCode, billing.StatusCode));
        Assert.Equal("p1", (await Table.ReadAsync(orders)).Answer.Endpoint);
        Assert.Equal("Degraded", health.GetProperty("status").GetString());
        Assert.True(health.GetProperty("routingTables").GetProperty("stale").GetBoolean());

        // Counted as answers the router gave itself; a name it has no table for under no service label.
        using var unknown = await router.Client.GetAsync(new Uri("/made-up/x", UriKind.Relative), Ct);
        using var otherCase = await router.Client.GetAsync(new Uri("/BrOkEn/x", UriKind.Relative), Ct); // counted under the stored name
        var metrics = await router.MetricsAsync();
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.True(PrometheusText.Value(metrics, "shadowing_router_refused_total", ("service", "broken"), ("reason", "routing_not_loaded")) >= 1);
        Assert.True(PrometheusText.Value(metrics, "shadowing_router_refused_total", ("service", string.Empty), ("reason", "unknown_service")) >= 1);
        Assert.DoesNotContain("made-up", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("BrOkEn", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryStoredTableInvalid_TheRouterIsLoadedAndDegraded_NotUnhealthy_AndAnEventNamingOneIsNotRedelivered()
    {
        // The store answered: what it holds is wrong, which reading it again every second would not mend.
        using var sqlite = new Shadowing.Embedded.State.SqliteStateStore(Shadowing.Embedded.State.SqliteStateStore.InMemory, TimeProvider.System);
        await sqlite.SaveAsync(StateKeys.Routing("billing"), "not json"u8.ToArray(), null, Ct);
        await using var router = await RouterHost.StartAsync([], sharedStore: sqlite);

        using var billing = await router.Client.GetAsync(new Uri("/billing/x", UriKind.Relative), Ct);
        using var health = await router.Client.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK), (billing.StatusCode, health.StatusCode));
        Assert.Contains("Degraded", await health.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // A routing-changed event for a new table that is invalid: answered 503 at once, and handled (not thrown back to
        // the bus, which would redeliver it until it is dead-lettered).
        await sqlite.SaveAsync(StateKeys.Routing("search"), ShadowingJson.Serialize(new { service = "search", production = new[] { new { id = "s1", address = "http://127.0.0.1:1", maxConcurrency = 0 } } }), null, Ct);
        await router.App.Services.GetRequiredService<Shadowing.Router.Routing.RoutingTableCache>().RefreshServiceAsync("search", Ct);
        using var search = await router.Client.GetAsync(new Uri("/search/x", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, search.StatusCode);
    }

    private static RoutingTable Service(string service, string production) => new()
    {
        Service = service,
        Production = [new ProductionEndpoint { Id = production, Address = "http://127.0.0.1:1", MaxConcurrency = 10 }],
    };

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));

    /// <summary>A cache over <c>tables</c> with the default router options, and the alert publisher it raises through.</summary>
    private sealed class CacheHarness : IDisposable
    {
        public CacheHarness(RoutingTableStore tables, IEventBus bus, TimeProvider time)
        {
            var options = Options.Create(new RouterOptions());
            Alerts = new AlertPublisher(bus, time, NullLogger<AlertPublisher>.Instance);
            Cache = new RoutingTableCache(tables, bus, new EndpointRegistry(options, time), new DaprSidecarEndpoint("http://127.0.0.1:3500", null), Alerts, options, time, NullLogger<RoutingTableCache>.Instance);
        }

        public AlertPublisher Alerts { get; }

        public RoutingTableCache Cache { get; }

        public void Dispose()
        {
            Cache.Dispose();
            Alerts.Dispose();
        }
    }

    /// <summary>A store that cannot give back some keys, as a backend may fail one key's read (a wrong type, a value too large).</summary>
    private sealed class UnreadableKeys(IStateStore inner) : DelegatingStateStore(inner)
    {
        public HashSet<string> Unreadable { get; } = new(StringComparer.Ordinal);

        public override Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default) =>
            Unreadable.Contains(key) ? throw new StateStoreException($"cannot read {key}") : base.GetAsync(key, cancellationToken);
    }
}
