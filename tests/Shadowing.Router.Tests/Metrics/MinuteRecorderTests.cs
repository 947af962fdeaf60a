using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
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
    public async Task TimerFiresEarly_RestOfTheWaitIsAWholeMillisecond()
    {
        // The recorder sleeps until the next minute. As for the mirror replayer (MirrorReplayerTests): when its timer
        // fired before GetUtcNow reached the minute, the rest was a sub-millisecond delay that ends at once, and it
        // flushed in a spin until the wall clock got there.
        var early = TimeSpan.FromTicks(5_000);
        var clock = new FakeTimeProvider(); // starts on a minute
        var time = new TimerRecordingTimeProvider(clock, early);
        await using var router = await RouterHost.StartAsync([], time: time);
        await Eventually.WaitUntilAsync(() => time.DueTimes.Contains(TimeSpan.FromMinutes(1)), "the recorder's sleep until the next minute", cancellationToken: Ct);
        var before = time.DueTimes.Count;

        clock.Advance(TimeSpan.FromMinutes(1) - early);

        TimeSpan Rest() => time.DueTimes.Skip(before).FirstOrDefault(d => d > TimeSpan.Zero && d < TimeSpan.FromMilliseconds(2));
        await Eventually.WaitUntilAsync(() => Rest() > TimeSpan.Zero, "the recorder's wait for the rest (one under a millisecond ends at once, and it spins)", cancellationToken: Ct);
        Assert.Equal(TimeSpan.FromMilliseconds(1), Rest());
    }

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

        // The router counts a request once its answer has gone out, so the client can see the third answer before it is
        // counted and the minute's flush: a later flush of the same minute merges it into the stored minute.
        var recorder = router.App.Services.GetRequiredService<Shadowing.Router.Metrics.MinuteRecorder>();
        await Eventually.WaitUntilAsync(
            async () =>
            {
                await recorder.FlushAsync(new DateTimeOffset(2026, 11, 26, 12, 1, 0, TimeSpan.Zero), Ct);
                return (await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics-by-day/orders/2026-11-26/p1@12", Ct))?.Value.Minutes.Sum(m => m.Requests) == 3;
            },
            "the three requests of 12:00 are stored",
            cancellationToken: Ct);
        var day = (await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics-by-day/orders/2026-11-26/p1@12", Ct))!.Value;
        Assert.Equal((new DateOnly(2026, 11, 26), 12), (day.Day, day.Hour));
        var minute = Assert.Single(day.Minutes);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero), minute.Minute);
        Assert.Equal(3, minute.Requests);
        Assert.Equal(1, minute.Errors);
        Assert.Equal(1, minute.InFlightPeak);
        Assert.Equal(EndpointRole.Production, minute.Role);
        Assert.Equal(3, minute.LatencyBuckets.Sum());
        var idle = (await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics-by-day/orders/2026-11-26/idle@12", Ct))!.Value;
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
                var day = await router.Store.GetJsonAsync<EndpointMetricsDay>("metrics-by-day/orders/2026-11-26/p1@12", Ct);
                return day is not null && day.Value.Minutes.Select(m => m.Requests).SequenceEqual([1L, 1L]);
            },
            "minutes 12:00 and 12:01 each hold their one request",
            cancellationToken: Ct);
    }

    [Fact]
    public async Task EachMinuteGoesToItsHoursDocument_SoAFlushRewritesAnHourNotTheDay()
    {
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 59, 30, TimeSpan.Zero));
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" }, time: time);
        var recorder = router.App.Services.GetRequiredService<Shadowing.Router.Metrics.MinuteRecorder>();
        (await router.Client.GetAsync(new Uri("/orders/a", UriKind.Relative), Ct)).Dispose();
        time.Advance(TimeSpan.FromSeconds(40));
        (await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct)).Dispose();
        (await router.Client.GetAsync(new Uri("/orders/c", UriKind.Relative), Ct)).Dispose();
        time.Advance(TimeSpan.FromMinutes(1));

        // As above: a request is counted once its answer went out, so flush until all three are stored.
        async Task<IReadOnlyList<(DateTimeOffset, long)>> HourAsync(string key) =>
            (await router.Store.GetJsonAsync<EndpointMetricsDay>(key, Ct))?.Value.Minutes.Select(m => (m.Minute, m.Requests)).ToArray() ?? [];
        await Eventually.WaitUntilAsync(
            async () =>
            {
                await recorder.FlushAsync(new DateTimeOffset(2026, 11, 26, 13, 1, 0, TimeSpan.Zero), Ct);
                return (await HourAsync("metrics-by-day/orders/2026-11-26/p1@13")).Sum(m => m.Item2) == 2;
            },
            "the two requests of 13:00 are stored",
            cancellationToken: Ct);

        Assert.Equal([(new DateTimeOffset(2026, 11, 26, 12, 59, 0, TimeSpan.Zero), 1L)], await HourAsync("metrics-by-day/orders/2026-11-26/p1@12"));
        Assert.Equal([(new DateTimeOffset(2026, 11, 26, 13, 0, 0, TimeSpan.Zero), 2L)], await HourAsync("metrics-by-day/orders/2026-11-26/p1@13"));
        Assert.Equal(["metrics-by-day/orders/2026-11-26/p1@12", "metrics-by-day/orders/2026-11-26/p1@13"], await router.Store.ListKeysAsync(StateKeys.MetricsOn("orders", new DateOnly(2026, 11, 26)), Ct));
    }

    [Fact]
    public async Task TwoRouters_OneStore_SameMinute_BothReplicasRecordsKept()
    {
        // Both replicas read the day document before either writes it: the one that loses the race must merge into
        // the other's record, not overwrite it.
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 0, 30, TimeSpan.Zero));
        using var sqlite = new Shadowing.Embedded.State.SqliteStateStore(Shadowing.Embedded.State.SqliteStateStore.InMemory, TimeProvider.System);
        var shared = new RendezvousStateStore(sqlite, "metrics-by-day/orders/2026-11-26/", parties: 2);
        await using var p1 = await TestBackend.StartAsync("p1");
        var settings = new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" };
        await using var first = await RouterHost.StartAsync([Table.For("orders", [p1])], settings, time: time, sharedStore: shared);
        await using var second = await RouterHost.StartAsync([Table.For("orders", [p1])], settings, time: time, sharedStore: shared);
        for (var i = 0; i < 3; i++)
        {
            (await first.Client.GetAsync(new Uri($"/orders/a{i}", UriKind.Relative), Ct)).Dispose();
        }

        (await second.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct)).Dispose();
        var minute = new DateTimeOffset(2026, 11, 26, 12, 1, 0, TimeSpan.Zero);

        await Task.WhenAll(
            first.App.Services.GetRequiredService<Shadowing.Router.Metrics.MinuteRecorder>().FlushAsync(minute, Ct),
            second.App.Services.GetRequiredService<Shadowing.Router.Metrics.MinuteRecorder>().FlushAsync(minute, Ct));

        var day = (await sqlite.GetJsonAsync<EndpointMetricsDay>("metrics-by-day/orders/2026-11-26/p1@12", Ct))!.Value;
        Assert.Equal(4, Assert.Single(day.Minutes).Requests);
    }

    /// <summary>Holds the first <c>parties</c> reads of keys below a prefix until all of them have read: forces two writers to race.</summary>
    private sealed class RendezvousStateStore(IStateStore inner, string prefix, int parties) : IStateStore
    {
        private readonly Barrier _barrier = new(parties);
        private int _held;

        public async Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
        {
            var item = await inner.GetAsync(key, cancellationToken);
            if (key.StartsWith(prefix, StringComparison.Ordinal) && Interlocked.Increment(ref _held) <= parties)
            {
                await Task.Run(() => _barrier.SignalAndWait(TimeSpan.FromSeconds(20), cancellationToken), cancellationToken);
            }

            return item;
        }

        public Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) => inner.SaveAsync(key, value, etag, cancellationToken);

        public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) => inner.TryCreateAsync(key, value, cancellationToken);

        public Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, etag, cancellationToken);

        public Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) => inner.TransactAsync(operations, cancellationToken);

        public Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListKeysAsync(prefix, cancellationToken);
    }
}
