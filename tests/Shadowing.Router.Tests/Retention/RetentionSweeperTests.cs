using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Dapr.State;
using Shadowing.Router.Metrics;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Retention;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Retention;

public sealed class RetentionSweeperTests
{
    private static readonly DateTimeOffset Ten = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset Midnight(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(null)]
    [InlineData(FakeStoreMode.Redis)]
    [InlineData(FakeStoreMode.PostgreSql)]
    public async Task HoursPastTheRetention_AreDeleted_LaterOnesKeptAndStillRead_ASecondSweepDeletesNothing(FakeStoreMode? dapr)
    {
        var time = new ObservableTimeProvider(Ten.AddMinutes(30));
        await using var sidecar = dapr is { } mode ? await FakeDaprSidecar.StartAsync(mode) : null;
        using var client = sidecar?.CreateClient();
        IStateStore store = client is null ? new InMemoryStateStore() : new DaprStateStore(client, time);
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);

        // Copies answered by s1 at 10:30 and 11:30, production-noise pairs at 10:30.
        Add(recorder, "s1", Ten.AddMinutes(30), count: 5);
        Add(recorder, OutcomeSlot.NoiseEndpoint, Ten.AddMinutes(30).AddSeconds(8), count: 3);
        await recorder.FlushAsync(Ct);
        time.SetUtcNow(Ten.AddMinutes(90));
        Add(recorder, "s1", Ten.AddMinutes(90), count: 4);
        await recorder.FlushAsync(Ct);

        // The recorder listed each hour before writing its first slot.
        var listed = await ListedAsync(store, "outcome-slots");
        Assert.Equal(
            [Hour("s1", Ten), Hour(OutcomeSlot.NoiseEndpoint, Ten), Hour("s1", Ten.AddHours(1))],
            listed);

        // At 13:30 with 2 hours kept, the hour 10:00-11:00 ended before the cut-off (11:30); 11:00-12:00 did not.
        time.SetUtcNow(Ten.AddHours(3.5));
        var sweeper = Sweeper(store, time, TimeSpan.FromHours(2));
        Assert.Equal(2, await sweeper.SweepAsync(Ct));

        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten), Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", OutcomeSlot.NoiseEndpoint, Ten), Ct));
        Assert.Single(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten.AddHours(1)), Ct));
        Assert.Equal(
            [Hour("s1", Ten.AddHours(1))],
            await ListedAsync(store, "outcome-slots"));
        var validator = new ShadowValidator(store, Substitute.For<IEventBus>(), time);
        Assert.Equal(4, (await validator.SentAsync("orders", "s1", Ten, Ten.AddHours(2), cancellationToken: Ct)).Count);

        Assert.Equal(0, await sweeper.SweepAsync(Ct));
    }

    [Fact]
    public async Task TwoReplicasSweepingTheSameHoursAtOnce_OverTheDaprAdapter_DeleteEverySlotAndLeaveNothingListed()
    {
        var time = new ObservableTimeProvider(Ten);
        await using var sidecar = await FakeDaprSidecar.StartAsync(FakeStoreMode.Redis);
        using var client = sidecar.CreateClient();
        var store = new DaprStateStore(client, time);
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        foreach (var endpoint in new[] { "s1", "s2" })
        {
            for (var slot = 0; slot < 10; slot++)
            {
                Add(recorder, endpoint, Ten.AddMinutes(slot * 5), count: 2);
            }
        }

        await recorder.FlushAsync(Ct);
        time.SetUtcNow(Ten.AddDays(2));

        var swept = await Task.WhenAll(Sweeper(store, time, TimeSpan.FromDays(1)).SweepAsync(Ct), Sweeper(store, time, TimeSpan.FromDays(1)).SweepAsync(Ct));

        Assert.InRange(swept.Sum(), 20, 40); // each slot deleted by one replica or both
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));
        Assert.Empty(await ListedAsync(store, "outcome-slots"));
    }

    [Fact]
    public async Task ASweepThatFailsHalfway_LeavesTheHourListed_AndTheNextSweepFinishesIt()
    {
        var time = new ObservableTimeProvider(Ten);
        var store = new FailingDeleteStore(new InMemoryStateStore());
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        for (var slot = 0; slot < 3; slot++)
        {
            Add(recorder, "s1", Ten + (slot * OutcomeSlot.Length), count: 2);
        }

        await recorder.FlushAsync(Ct);
        Assert.Equal(3, (await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten), Ct)).Count);

        time.SetUtcNow(Ten.AddDays(2));
        var sweeper = Sweeper(store, time, TimeSpan.FromDays(1));
        store.FailDeleteNumber = 2;
        Assert.Equal(0, await sweeper.SweepAsync(Ct)); // logged; the hour is not done
        Assert.Equal(2, (await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten), Ct)).Count);
        Assert.Single(await ListedAsync(store, "outcome-slots"));

        Assert.Equal(2, await sweeper.SweepAsync(Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));
        Assert.Empty(await ListedAsync(store, "outcome-slots"));
    }

    [Fact]
    public async Task AnHourIsListedBeforeItsFirstSlotIsWritten()
    {
        var time = new ObservableTimeProvider(Ten);
        var store = new HoursDownStore(new InMemoryStateStore()) { Down = true };
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        Add(recorder, "s1", Ten, count: 2);
        await recorder.FlushAsync(Ct);

        // The hour could not be listed, so no slot was written: a slot listed nowhere would never be swept.
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));

        store.Down = false;
        await recorder.FlushAsync(Ct);

        Assert.Equal(2, (await new ShadowValidator(store, Substitute.For<IEventBus>(), time).SentAsync("orders", "s1", Ten, Ten.AddMinutes(1), cancellationToken: Ct)).Count);
        Assert.Equal([Hour("s1", Ten)], await ListedAsync(store, "outcome-slots"));
    }

    [Fact]
    public async Task OutcomesWhoseHourStartedLongerAgoThanTheRetention_AreDroppedAndCounted_NeverWrittenWhereTheSweepMayBe()
    {
        // Copies time-shifted by pub/sub carry their original time. At 13:30 with 2 hours kept, the hour 11:00 started
        // before 11:30: the sweep takes it at 14:00, so nothing is written into it any more. 12:00 still is.
        var time = new ObservableTimeProvider(Ten.AddHours(3.5));
        var store = new InMemoryStateStore();
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance, Retention(TimeSpan.FromHours(2)));
        Add(recorder, "s1", Ten.AddHours(1).AddMinutes(20), count: 2);
        Add(recorder, "s1", Ten.AddHours(1).AddMinutes(59), count: 1);
        Add(recorder, "s1", Ten.AddHours(2).AddMinutes(10), count: 4);
        await recorder.FlushAsync(Ct);

        Assert.Equal(3, recorder.Dropped);
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten.AddHours(1)), Ct));
        Assert.Single(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten.AddHours(2)), Ct));
        Assert.Equal([Hour("s1", Ten.AddHours(2))], await ListedAsync(store, "outcome-slots"));
    }

    [Fact]
    public async Task AnHourIsSweptOnceItEndedTheRetentionAgo_NotAMinuteBefore()
    {
        var time = new ObservableTimeProvider(Ten);
        var store = new InMemoryStateStore();
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        Add(recorder, "s1", Ten.AddMinutes(59), count: 1);
        await recorder.FlushAsync(Ct);
        var sweeper = Sweeper(store, time, TimeSpan.FromHours(2));

        time.SetUtcNow(Ten.AddHours(3).AddMinutes(-1));
        Assert.Equal(0, await sweeper.SweepAsync(Ct));
        time.SetUtcNow(Ten.AddHours(3));
        Assert.Equal(1, await sweeper.SweepAsync(Ct));
    }

    [Fact]
    public async Task AServiceWhoseListCannotBeRead_DoesNotStopTheOthersBeingSwept()
    {
        var time = new ObservableTimeProvider(Ten);
        var store = new InMemoryStateStore();
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        Add(recorder, "s1", Ten, count: 1);
        await recorder.FlushAsync(Ct);
        await store.SaveAsync(StateKeys.Retention("outcome-slots", "accounts"), "not json"u8.ToArray(), etag: null, Ct); // listed before orders

        time.SetUtcNow(Ten.AddDays(2));
        Assert.Equal(1, await Sweeper(store, time, TimeSpan.FromDays(1)).SweepAsync(Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));
    }

    [Fact]
    public async Task TheRouterSweeps_OnItsOwn()
    {
        var store = new InMemoryStateStore();
        await store.SaveJsonAsync(StateKeys.Outcomes("orders", "s1", Ten), new OutcomeSlot { Service = "orders", Endpoint = "s1", Start = Ten }, cancellationToken: Ct);
        await store.SaveJsonAsync(StateKeys.Retention("outcome-slots", "orders"), new RetainedCollections { Service = "orders", Collections = [Hour("s1", Ten)] }, cancellationToken: Ct);

        await using var router = await RouterHost.StartAsync([], time: new ObservableTimeProvider(Ten.AddDays(3)), sharedStore: store);

        await Eventually.WaitUntilAsync(
            async () => (await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct)).Count == 0,
            "the router's sweep deleted the slot of three days ago",
            cancellationToken: Ct);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(FakeStoreMode.Redis)]
    [InlineData(FakeStoreMode.PostgreSql)]
    public async Task MetricDaysPastTheRetention_AreDeleted_LaterOnesKeptAndStillRead(FakeStoreMode? dapr)
    {
        var time = new ObservableTimeProvider(Ten.AddHours(2).AddSeconds(30));
        await using var sidecar = dapr is { } mode ? await FakeDaprSidecar.StartAsync(mode) : null;
        using var client = sidecar?.CreateClient();
        IStateStore store = client is null ? new InMemoryStateStore() : new DaprStateStore(client, time);
        await using var p1 = await TestBackend.StartAsync("p1");
        var settings = new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false", ["Router:MetricsRetention"] = "2.00:00:00" };
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], settings, time: time, sharedStore: store);
        var recorder = router.App.Services.GetRequiredService<MinuteRecorder>();

        // One request on 26 November, two on the 28th, each recorded when its minute ends.
        (await router.Client.GetAsync(new Uri("/orders/a", UriKind.Relative), Ct)).Dispose();
        await recorder.FlushAsync(Ten.AddHours(2).AddMinutes(1), Ct);
        time.SetUtcNow(Ten.AddDays(2).AddHours(2).AddSeconds(30));
        (await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct)).Dispose();
        (await router.Client.GetAsync(new Uri("/orders/c", UriKind.Relative), Ct)).Dispose();
        await recorder.FlushAsync(Ten.AddDays(2).AddHours(2).AddMinutes(1), Ct);
        var (first, last) = (DateOnly.FromDateTime(Ten.UtcDateTime), DateOnly.FromDateTime(Ten.AddDays(2).UtcDateTime));
        Assert.Equal([RetentionSweeper.MetricsDay("orders", first), RetentionSweeper.MetricsDay("orders", last)], await ListedAsync(store, "metrics"));

        // At 00:30 on the 29th, with 2 days kept, the 26th (ended 00:00 on the 27th) is past the cut-off; the 28th is not.
        time.SetUtcNow(new DateTimeOffset(2026, 11, 29, 0, 30, 0, TimeSpan.Zero));
        await router.App.Services.GetRequiredService<RetentionSweeper>().SweepAsync(Ct); // the router's own loop may sweep too

        Assert.Empty(await store.ListKeysAsync(StateKeys.MetricsOn("orders", first), Ct));
        var listed = await ListedAsync(store, "metrics"); // and the 29th, once the router's loop recorded an idle minute of it
        Assert.DoesNotContain(RetentionSweeper.MetricsDay("orders", first), listed);
        Assert.Contains(RetentionSweeper.MetricsDay("orders", last), listed);
        var read = await EndpointMetricsDay.ReadAsync(store, "orders", Midnight(first), Midnight(last.AddDays(2)), cancellationToken: Ct).ToListAsync(Ct);
        Assert.Equal(2, read.SelectMany(d => d.Minutes).Sum(m => m.Requests));
    }

    [Fact]
    public async Task MetricRecordsOfADayThatStartedLongerAgoThanTheRetention_ArePublishedButNotStored()
    {
        var time = new ObservableTimeProvider(Ten.AddHours(2).AddSeconds(30));
        var store = new InMemoryStateStore();
        await using var p1 = await TestBackend.StartAsync("p1");
        var settings = new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false", ["Router:MetricsRetention"] = "2.00:00:00" };
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], settings, time: time, sharedStore: store);
        var published = new System.Collections.Concurrent.ConcurrentQueue<EndpointMinuteRecord>();
        using var subscription = router.Bus.Subscribe<EndpointMinuteRecord>(Topics.Metrics, "test", (r, _) =>
        {
            published.Enqueue(r);
            return Task.CompletedTask;
        });
        (await router.Client.GetAsync(new Uri("/orders/a", UriKind.Relative), Ct)).Dispose();

        // The store is down until two days later: the 26th started before the cut-off, and its sweep may be running.
        router.Store.Failing = true;
        var recorder = router.App.Services.GetRequiredService<MinuteRecorder>();
        await recorder.FlushAsync(Ten.AddHours(2).AddMinutes(1), Ct);
        time.SetUtcNow(Ten.AddDays(2).AddHours(2));
        router.Store.Failing = false;
        await recorder.FlushAsync(Ten.AddDays(2).AddHours(2), Ct);

        await Eventually.WaitUntilAsync(() => published.Any(r => r.Requests == 1), "the minute of the 26th is published", cancellationToken: Ct);
        Assert.Empty(await store.ListKeysAsync(StateKeys.MetricsOn("orders", DateOnly.FromDateTime(Ten.UtcDateTime)), Ct));
        Assert.DoesNotContain(RetentionSweeper.MetricsDay("orders", DateOnly.FromDateTime(Ten.UtcDateTime)), await ListedAsync(store, "metrics"));
        Assert.Equal(0, recorder.PendingRecords);
    }

    [Fact]
    public async Task MetricsInTheLayoutBefore_AreReadBesideTheNewOnes_AndDeletedOncePastTheRetention()
    {
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 11, 29, 0, 30, 0, TimeSpan.Zero));
        var store = new InMemoryStateStore();
        var day = DateOnly.FromDateTime(Ten.AddDays(2).UtcDateTime);
        EndpointMinuteRecord Minute(int minute, long requests) => new()
        {
            Service = "orders", EndpointId = "p1", Role = EndpointRole.Production, Minute = Ten.AddDays(2).AddMinutes(minute), Requests = requests,
            LatencyBuckets = new long[LatencyHistogram.BucketCount],
        };

        // During upgrades: a replica of the first layout wrote two minutes of the 28th (and the 20th) where it always did;
        // one of the layout by day wrote its share of the second minute in a whole-day document; a new one its share of
        // the first minute in the hour's.
        await store.SaveJsonAsync(StateKeys.LegacyMetrics("orders", "p1", day), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = day, Minutes = [Minute(0, 3), Minute(1, 4)] }, cancellationToken: Ct);
        await store.SaveJsonAsync(StateKeys.LegacyMetrics("orders", "p1", new DateOnly(2026, 11, 20)), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = new DateOnly(2026, 11, 20) }, cancellationToken: Ct);
        await store.SaveJsonAsync(StateKeys.WholeDayMetrics("orders", "p1", day), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = day, Minutes = [Minute(1, 6)] }, cancellationToken: Ct);
        await store.SaveJsonAsync(StateKeys.Metrics("orders", "p1", Ten.AddDays(2)), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = day, Hour = Ten.Hour, Minutes = [Minute(0, 5)] }, cancellationToken: Ct);

        Assert.Equal(1, await Sweeper(store, time, TimeSpan.FromDays(1), metrics: TimeSpan.FromDays(2)).SweepAsync(Ct));

        Assert.Equal([StateKeys.LegacyMetrics("orders", "p1", day)], await store.ListKeysAsync(StateKeys.LegacyMetricsPrefix, Ct));
        var read = await EndpointMetricsDay.ReadAsync(store, "orders", Midnight(day.AddDays(-10)), Midnight(day.AddDays(1)), cancellationToken: Ct).ToListAsync(Ct);

        Assert.Equal(18, read.SelectMany(d => d.Minutes).Sum(m => m.Requests)); // each record once, from whichever layout
    }

    [Fact]
    public async Task OutcomeHoursListedByTheVersionBefore_AreTakenIntoTheLedgerAndSwept()
    {
        var time = new ObservableTimeProvider(Ten.AddHours(3.5));
        var store = new InMemoryStateStore();
        foreach (var hour in new[] { Ten, Ten.AddHours(1) })
        {
            await store.SaveJsonAsync(StateKeys.Outcomes("orders", "s1", hour), new OutcomeSlot { Service = "orders", Endpoint = "s1", Start = hour }, cancellationToken: Ct);
        }

        // As that version wrote it: at 13:30 with 2 hours kept, 10:00-11:00 is past the retention, 11:00-12:00 is not. An
        // entry without an endpoint, and a list that does not parse (listed first), are passed over.
        await store.SaveAsync("outcome-hours/accounts", "not json"u8.ToArray(), etag: null, Ct);
        await store.SaveAsync("outcome-hours/orders", System.Text.Encoding.UTF8.GetBytes("""{"service":"orders","hours":[{"endpoint":"s1","hour":"2026-11-26T10:00:00+00:00"},{"endpoint":"s1","hour":"2026-11-26T11:00:00+00:00"},{"endpoint":"","hour":"2026-11-26T11:00:00+00:00"}]}"""), etag: null, Ct);

        Assert.Equal(1, await Sweeper(store, time, TimeSpan.FromHours(2)).SweepAsync(Ct));

        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten), Ct));
        Assert.Single(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten.AddHours(1)), Ct));
        Assert.Equal([Hour("s1", Ten.AddHours(1))], await ListedAsync(store, "outcome-slots"));
        Assert.Equal("""{"service":"orders","hours":[]}""", System.Text.Encoding.UTF8.GetString((await store.GetAsync("outcome-hours/orders", Ct))!.Value.Span));

        // An older replica lists another hour in the old list afterwards: the next sweep takes it.
        await store.SaveAsync("outcome-hours/orders", System.Text.Encoding.UTF8.GetBytes("""{"service":"orders","hours":[{"endpoint":"s2","hour":"2026-11-26T12:00:00+00:00"}]}"""), etag: null, Ct);
        await Sweeper(store, time, TimeSpan.FromHours(2)).SweepAsync(Ct);
        Assert.Equal([Hour("s1", Ten.AddHours(1)), Hour("s2", Ten.AddHours(2))], await ListedAsync(store, "outcome-slots"));
    }

    [Fact]
    public async Task APartOfTheSweepThatCannotList_DoesNotHoldUpTheOthers()
    {
        var time = new ObservableTimeProvider(Ten);
        var store = new ListingFailsStore(new InMemoryStateStore(), "outcome-hours/", StateKeys.LegacyMetricsPrefix, StateKeys.Retention("metrics", string.Empty));
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        Add(recorder, "s1", Ten, count: 1);
        await recorder.FlushAsync(Ct);

        time.SetUtcNow(Ten.AddDays(2));
        Assert.Equal(1, await Sweeper(store, time, TimeSpan.FromDays(1)).SweepAsync(Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));
    }

    [Fact]
    public async Task AWriterForgetsTheCollectionsItListed_OnceTheyArePastTheRetention()
    {
        // A router runs for months: what it remembers having listed must not grow with every hour it ever wrote.
        var time = new ObservableTimeProvider(Ten);
        var store = new InMemoryStateStore();
        var ledger = RetentionSweeper.Outcomes(store, time, Retention(TimeSpan.FromHours(2)).Value);
        for (var hour = 0; hour < 48; hour++)
        {
            time.SetUtcNow(Ten.AddHours(hour));
            await ledger.ListAsync("orders", Hour("s1", Ten.AddHours(hour)), Ct);
        }

        Assert.InRange(ledger.Remembered, 1, 3); // the hours that ended less than 2 hours ago, and this one
        Assert.Equal(48, (await ListedAsync(store, "outcome-slots")).Count); // the store's list is the sweep's to trim
    }

    private static RetentionSweeper Sweeper(IStateStore store, TimeProvider time, TimeSpan retention, TimeSpan? metrics = null) =>
        new(store, time, RandomSource.Seeded(1), Retention(retention, metrics), NullLogger<RetentionSweeper>.Instance);

    private static RetainedCollection Hour(string endpoint, DateTimeOffset hour) => new(StateKeys.OutcomesOf("orders", endpoint, hour), hour.AddHours(1));

    private static async Task<IReadOnlyList<RetainedCollection>> ListedAsync(IStateStore store, string kind) =>
        (await store.GetJsonAsync<RetainedCollections>(StateKeys.Retention(kind, "orders"), Ct))?.Value.Collections ?? [];

    private static IOptions<RouterOptions> Retention(TimeSpan retention, TimeSpan? metrics = null) =>
        Options.Create(new RouterOptions { Mirroring = new MirroringOptions { OutcomeRetention = retention }, MetricsRetention = metrics ?? TimeSpan.FromDays(35) });

    private static void Add(OutcomeRecorder recorder, string endpoint, DateTimeOffset receivedAt, int count)
    {
        for (var i = 0; i < count; i++)
        {
            recorder.Add(new MirrorOutcome
            {
                RequestId = $"{endpoint}-{receivedAt:HHmmss}-{i}",
                Service = "orders",
                Method = "GET",
                Path = "/items",
                ReceivedAt = receivedAt,
                Kind = endpoint == OutcomeSlot.NoiseEndpoint ? OutcomeKind.ProductionNoise : OutcomeKind.Shadow,
                Production = new EndpointAnswer("p1", 200, 1, 10),
                Copy = new EndpointAnswer(endpoint == OutcomeSlot.NoiseEndpoint ? "p2" : endpoint, 200, 1, 10),
            });
        }
    }

    /// <summary>Fails every write to <c>retention/</c> while <see cref="Down"/> is set.</summary>
    private sealed class HoursDownStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        public bool Down { get; set; }

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
            Refused(key) ? throw new StateStoreException("down (injected)") : base.SaveAsync(key, value, etag, cancellationToken);

        public override Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
            Refused(key) ? throw new StateStoreException("down (injected)") : base.TryCreateAsync(key, value, cancellationToken);

        private bool Refused(string key) => Down && key.StartsWith(StateKeys.RetentionPrefix, StringComparison.Ordinal);
    }

    /// <summary>Fails every listing of the given prefixes.</summary>
    private sealed class ListingFailsStore(IStateStore inner, params string[] prefixes) : DelegatingStateStore(inner)
    {
        public override Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default) =>
            prefixes.Contains(prefix) ? throw new StateStoreException($"listing {prefix} failed (injected)") : base.ListKeysAsync(prefix, cancellationToken);
    }

    /// <summary>Fails the <see cref="FailDeleteNumber"/>-th delete, once.</summary>
    private sealed class FailingDeleteStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        private int _deletes;

        public int FailDeleteNumber { get; set; }

        public override Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default) =>
            ++_deletes == FailDeleteNumber
                ? throw new StateStoreException("delete failed (injected)")
                : base.DeleteAsync(key, etag, cancellationToken);
    }
}
