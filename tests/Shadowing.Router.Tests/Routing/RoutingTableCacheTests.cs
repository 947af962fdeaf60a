using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
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
    public async Task StoredTableInvalid_PreviousVersionKept()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        await router.Store.SaveAsync(StateKeys.Routing("orders"), ShadowingJson.Serialize(new { service = "orders", production = new[] { new { id = "p1", address = "ftp://bad", maxConcurrency = 1 } } }), null, Ct);
        await router.Store.SaveAsync(StateKeys.Routing("broken"), "not json"u8.ToArray(), null, Ct);
        await router.App.Services.GetRequiredService<Shadowing.Router.Routing.RoutingTableCache>().RefreshAllAsync(Ct);

        using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        Assert.Equal("p1", (await Table.ReadAsync(response)).Answer.Endpoint);
        Assert.False((await router.HealthAsync()).GetProperty("routingTables").GetProperty("stale").GetBoolean());
    }
}
