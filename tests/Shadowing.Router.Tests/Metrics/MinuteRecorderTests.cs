using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Metrics;

public sealed class MinuteRecorderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MinuteEnds_RecordsPerEndpointToStoreAndTopic()
    {
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 0, 30, TimeSpan.Zero));
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        var table = Table.For("orders", [p1]) with
        {
            Shadows = [new ShadowEndpoint { Id = "idle", Address = p2.Address.ToString(), State = Core.Shadows.ShadowState.WarmingUp }],
        };
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" }, time: time);
        var published = new ConcurrentQueue<EndpointMinuteRecord>();
        using var subscription = router.Bus.Subscribe<EndpointMinuteRecord>(Topics.Metrics, "test", (r, _) =>
        {
            published.Enqueue(r);
            return Task.CompletedTask;
        });
        (await router.Client.GetAsync(new Uri("/orders/a", UriKind.Relative), Ct)).Dispose();
        (await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct)).Dispose();
        p1.StatusCode = 503;
        (await router.Client.GetAsync(new Uri("/orders/c", UriKind.Relative), Ct)).Dispose();

        time.Advance(TimeSpan.FromSeconds(30));

        await Eventually.WaitUntilAsync(() => published.Count >= 2, "both endpoints' records are published", cancellationToken: Ct);
        var day = (await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics/orders/p1/2026-11-26", Ct))!.Value;
        var minute = Assert.Single(day.Minutes);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero), minute.Minute);
        Assert.Equal(3, minute.Requests);
        Assert.Equal(1, minute.Errors);
        Assert.Equal(1, minute.InFlightPeak);
        Assert.Equal(EndpointRole.Production, minute.Role);
        Assert.Equal(3, minute.LatencyBuckets.Sum());
        var idle = (await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics/orders/idle/2026-11-26", Ct))!.Value;
        Assert.Equal(0, Assert.Single(idle.Minutes).Requests);
        Assert.Contains(published, r => r.EndpointId == "p1" && r.Requests == 3);
        Assert.Contains(published, r => r.EndpointId == "idle" && r.Role == EndpointRole.Shadow);
    }

    [Fact]
    public async Task StoreDownAtMinuteEnd_RecordsKeptAndWrittenLater()
    {
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 0, 30, TimeSpan.Zero));
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" }, time: time);
        (await router.Client.GetAsync(new Uri("/orders/a", UriKind.Relative), Ct)).Dispose();
        router.Store.Failing = true;
        var recorder = router.App.Services.GetRequiredService<Shadowing.Router.Metrics.MinuteRecorder>();
        time.Advance(TimeSpan.FromSeconds(30));
        await recorder.FlushAsync(new DateTimeOffset(2026, 11, 26, 12, 1, 0, TimeSpan.Zero), Ct);
        Assert.True(router.Store.FailedCalls > 0);
        router.Store.Failing = false;

        (await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct)).Dispose();
        time.Advance(TimeSpan.FromMinutes(1));

        // Each request lands in the minute it started, even when it is recorded after a flush ran; flushes repeat
        // until both minutes are in.
        await Eventually.WaitUntilAsync(
            async () =>
            {
                await recorder.FlushAsync(new DateTimeOffset(2026, 11, 26, 12, 2, 0, TimeSpan.Zero), Ct);
                var day = await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics/orders/p1/2026-11-26", Ct);
                return day is not null && day.Value.Minutes.Select(m => m.Requests).SequenceEqual([1L, 1L]);
            },
            "minutes 12:00 and 12:01 each hold their one request",
            cancellationToken: Ct);
    }
}
