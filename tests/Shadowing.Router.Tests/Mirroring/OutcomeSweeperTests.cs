using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Dapr.State;
using Shadowing.Router.Mirroring;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Mirroring;

public sealed class OutcomeSweeperTests
{
    private static readonly DateTimeOffset Ten = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

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
        var listed = (await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours;
        Assert.Equal(
            [new OutcomeHour("s1", Ten), new OutcomeHour(OutcomeSlot.NoiseEndpoint, Ten), new OutcomeHour("s1", Ten.AddHours(1))],
            listed);

        // At 13:30 with 2 hours kept, the hour 10:00-11:00 ended before the cut-off (11:30); 11:00-12:00 did not.
        time.SetUtcNow(Ten.AddHours(3.5));
        var sweeper = Sweeper(store, time, TimeSpan.FromHours(2));
        Assert.Equal(2, await sweeper.SweepAsync(Ct));

        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten), Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", OutcomeSlot.NoiseEndpoint, Ten), Ct));
        Assert.Single(await store.ListKeysAsync(StateKeys.OutcomesOf("orders", "s1", Ten.AddHours(1)), Ct));
        Assert.Equal(
            [new OutcomeHour("s1", Ten.AddHours(1))],
            (await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours);
        var validator = new ShadowValidator(store, Substitute.For<IEventBus>(), time);
        Assert.Equal(4, (await validator.SentAsync("orders", "s1", Ten, Ten.AddHours(2), Ct)).Count);

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
        Assert.Empty((await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours);
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
        Assert.Single((await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours);

        Assert.Equal(2, await sweeper.SweepAsync(Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));
        Assert.Empty((await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours);
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

        Assert.Equal(2, (await new ShadowValidator(store, Substitute.For<IEventBus>(), time).SentAsync("orders", "s1", Ten, Ten.AddMinutes(1), Ct)).Count);
        Assert.Equal([new OutcomeHour("s1", Ten)], (await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours);
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
        Assert.Equal([new OutcomeHour("s1", Ten.AddHours(2))], (await store.GetJsonAsync<OutcomeHours>(StateKeys.OutcomeHours("orders"), Ct))!.Value.Hours);
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
        await store.SaveAsync(StateKeys.OutcomeHours("accounts"), "not json"u8.ToArray(), etag: null, Ct); // listed before orders

        time.SetUtcNow(Ten.AddDays(2));
        Assert.Equal(1, await Sweeper(store, time, TimeSpan.FromDays(1)).SweepAsync(Ct));
        Assert.Empty(await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct));
    }

    [Fact]
    public async Task TheRouterSweeps_OnItsOwn()
    {
        var store = new InMemoryStateStore();
        await store.SaveJsonAsync(StateKeys.Outcomes("orders", "s1", Ten), new OutcomeSlot { Service = "orders", Endpoint = "s1", Start = Ten }, cancellationToken: Ct);
        await store.SaveJsonAsync(StateKeys.OutcomeHours("orders"), new OutcomeHours { Service = "orders", Hours = [new OutcomeHour("s1", Ten)] }, cancellationToken: Ct);

        await using var router = await RouterHost.StartAsync([], time: new ObservableTimeProvider(Ten.AddDays(3)), sharedStore: store);

        await Eventually.WaitUntilAsync(
            async () => (await store.ListKeysAsync(StateKeys.OutcomesPrefix, Ct)).Count == 0,
            "the router's sweep deleted the slot of three days ago",
            cancellationToken: Ct);
    }

    private static OutcomeSweeper Sweeper(IStateStore store, TimeProvider time, TimeSpan retention) =>
        new(store, time, RandomSource.Seeded(1), Retention(retention), NullLogger<OutcomeSweeper>.Instance);

    private static IOptions<RouterOptions> Retention(TimeSpan retention) =>
        Options.Create(new RouterOptions { Mirroring = new MirroringOptions { OutcomeRetention = retention } });

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

    /// <summary>Fails every write to <c>outcome-hours/</c> while <see cref="Down"/> is set.</summary>
    private sealed class HoursDownStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        public bool Down { get; set; }

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
            Refused(key) ? throw new StateStoreException("down (injected)") : base.SaveAsync(key, value, etag, cancellationToken);

        public override Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
            Refused(key) ? throw new StateStoreException("down (injected)") : base.TryCreateAsync(key, value, cancellationToken);

        private bool Refused(string key) => Down && key.StartsWith(StateKeys.OutcomeHoursPrefix, StringComparison.Ordinal);
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
