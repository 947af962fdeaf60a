using System.Collections.Concurrent;
using System.Net;
using Shadowing.Core.Messaging;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Alerts;

/// <summary>The router's own alerts on <c>alerts</c>: failover, stale tables; at most one per service and kind per minute.</summary>
public sealed class RouterAlertsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Failover_ToAShadow_RaisesOneAlertForManyRequests()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], preWarmed: [shadow])]);
        var alerts = Collect(router);
        await Eventually.WaitUntilAsync(() => router.IsAvailableAsync("shadow"), "the shadow probed healthy", cancellationToken: Ct);
        await p1.KillAsync();

        for (var i = 0; i < 20; i++)
        {
            using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.WaitUntilAsync(() => !alerts.IsEmpty, "a failover alert", cancellationToken: Ct);
        var alert = Assert.Single(alerts);
        Assert.Equal((AlertKind.Failover, "orders", "shadow"), (alert.Kind, alert.Service, alert.Endpoint));
        Assert.StartsWith("routed to shadow endpoint shadow", alert.Reasons[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreOutage_RaisesAStaleRoutingTableAlert()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);
        var alerts = Collect(router);

        router.Store.Failing = true;

        await Eventually.WaitUntilAsync(() => !alerts.IsEmpty, "a stale-table alert", cancellationToken: Ct);
        var alert = Assert.Single(alerts);
        Assert.Equal((AlertKind.StaleRoutingTable, "*"), (alert.Kind, alert.Service));
        Assert.Contains("store unavailable", alert.Reasons[0], StringComparison.Ordinal);
        router.Store.Failing = false;
    }

    private static ConcurrentQueue<Alert> Collect(RouterHost router)
    {
        var alerts = new ConcurrentQueue<Alert>();
        router.Bus.Subscribe<Alert>(Topics.Alerts, "test", (alert, _) =>
        {
            alerts.Enqueue(alert);
            return Task.CompletedTask;
        });
        return alerts;
    }
}
