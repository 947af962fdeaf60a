using Microsoft.Extensions.Logging.Abstractions;
using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Router.Mirroring;
using Shadowing.TestUtilities.Mirroring;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Mirroring;

public sealed class OutcomeRecorderTests
{
    private const string Key = "outcome-slots/orders/s1/2026-11-26T12/0004";
    private const string LaterKey = "outcome-slots/orders/s1/2026-11-26T12/0024";

    private static readonly DateTimeOffset Minute = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FullSlot_RewrittenOnlyForAnOutcomeRankedBelowItsHighest_LaterSlotsStillKept_DropsAddedOnceWhenTheSlotIsOver()
    {
        var time = new ObservableTimeProvider(Minute.AddSeconds(10));
        var store = new WriteCountingStore(new InMemoryStateStore());
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        var next = 0;

        // Filling the slot from 0:04 takes writes; once it is full, it keeps the outcomes of lowest rank.
        Add(recorder, OutcomeSlot.Cap - 10, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        Add(recorder, 60, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        var writesWhenFull = store.Writes(Key);
        var threshold = (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Threshold!.Value;
        Assert.Equal(50, (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Dropped);

        // Outcomes ranked above the highest kept are only counted: no rewrite however many flushes bring them.
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            AddRanked(recorder, 40, Minute.AddSeconds(5), ref next, above: threshold);
            await recorder.FlushAsync(Ct);
        }

        Assert.Equal(writesWhenFull, store.Writes(Key));

        // One ranked below it is kept, in one write, and displaces the highest (counted in the document at once).
        var low = AddRanked(recorder, 1, Minute.AddSeconds(5), ref next, below: threshold).Single();
        await recorder.FlushAsync(Ct);
        Assert.Equal(writesWhenFull + 1, store.Writes(Key));
        var slot = (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value;
        Assert.Contains(slot.Outcomes, o => o.RequestId == low);
        Assert.Equal((OutcomeSlot.Cap, 51L), (slot.Outcomes.Count, slot.Dropped));

        // A later slot of the same minute is still kept, in its own document.
        AddRanked(recorder, 30, Minute.AddSeconds(5), ref next, above: slot.Threshold!.Value);
        Add(recorder, 20, Minute.AddSeconds(25), ref next);
        await recorder.FlushAsync(Ct);
        Assert.Equal(writesWhenFull + 1, store.Writes(Key));
        Assert.Equal(20, (await store.GetJsonAsync<OutcomeSlot>(LaterKey, Ct))!.Value.Outcomes.Count);

        // Over (the delay past its end): the 230 counted since are added, in one write.
        time.SetUtcNow(Minute.AddSeconds(8) + OutcomeRecorder.DropCountDelay - TimeSpan.FromMilliseconds(1));
        await recorder.FlushAsync(Ct);
        Assert.Equal(writesWhenFull + 1, store.Writes(Key));
        time.SetUtcNow(Minute.AddSeconds(8) + OutcomeRecorder.DropCountDelay);
        await recorder.FlushAsync(Ct);
        slot = (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value;
        Assert.Equal(OutcomeSlot.Cap, slot.Outcomes.Count);
        Assert.Equal(281, slot.Dropped);
        Assert.Equal(writesWhenFull + 2, store.Writes(Key));

        // A straggler for that slot takes the document's own path: counted once more.
        AddRanked(recorder, 1, Minute.AddSeconds(5), ref next, above: slot.Threshold!.Value);
        await recorder.FlushAsync(Ct);
        Assert.Equal(282, (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Dropped);
    }

    [Fact]
    public async Task ABusySlot_KeepsTimeoutsThatCompleteLast_AsOftenAsFastAnswers()
    {
        // 150 fast answers to requests received at 0:05 fill the slot within its first flush; ten copies of requests
        // received at the same time timed out and complete 10 s later. Keeping the first to complete judged none of them.
        var time = new ObservableTimeProvider(Minute.AddSeconds(6));
        var store = new InMemoryStateStore();
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        var next = 0;
        Add(recorder, 150, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        time.Advance(TimeSpan.FromSeconds(10));
        var timedOut = Enumerable.Range(0, 10).Select(i => $"t{i}").ToArray();
        foreach (var id in timedOut)
        {
            recorder.Add(Outcome(id, Minute.AddSeconds(5)) with { Copy = new EndpointAnswer("s1", 0, 10_000, 0, null, "no answer within 10 s") });
        }

        await recorder.FlushAsync(Ct);

        var slot = (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value;
        var all = Enumerable.Range(0, 150).Select(i => $"r{i}").Concat(timedOut);
        Assert.Equal(all.OrderBy(OutcomeSlot.Rank).Take(OutcomeSlot.Cap).Order(StringComparer.Ordinal), slot.Outcomes.Select(o => o.RequestId).Order(StringComparer.Ordinal));
        Assert.Contains(slot.Outcomes, o => o.Copy.Status == 0);
        time.Advance(OutcomeRecorder.DropCountDelay); // the timeouts ranked above the kept ones are counted once the slot is over
        await recorder.FlushAsync(Ct);
        Assert.Equal(40, (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Dropped);
    }

    [Fact]
    public async Task ABusyMinute_KeepsSamplesFromEveryPartOfIt_SoAWindowStartingLateFindsItsOwn()
    {
        // 50 copies a second, flushed every 2 s as the router does: a cap for the whole minute would fill in its first
        // seconds, and a shadow whose process restarted at 0:45 would find none of its own answers.
        var time = new ObservableTimeProvider(Minute);
        var store = new InMemoryStateStore();
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        var next = 0;
        for (var flush = 0; flush < 30; flush++)
        {
            for (var i = 0; i < 100; i++)
            {
                Add(recorder, 1, Minute.AddMilliseconds(((flush * 100) + i) * 20), ref next);
            }

            time.Advance(OutcomeRecorder.FlushInterval);
            await recorder.FlushAsync(Ct);
        }

        var late = 0;
        for (var start = Minute; start < Minute.AddMinutes(1); start += OutcomeSlot.Length)
        {
            var slot = (await store.GetJsonAsync<OutcomeSlot>(StateKeys.Outcomes("orders", "s1", start), Ct))!.Value;
            Assert.Equal(OutcomeSlot.Cap, slot.Outcomes.Count);
            late += slot.Outcomes.Count(o => o.ReceivedAt >= Minute.AddSeconds(45));
        }

        // The slot from 0:44 (requests r2200 to r2399, 0:45 from r2250 on) kept the 120 of lowest rank, a sample of the
        // whole slot; the three after it kept 120 each.
        var sampled = Enumerable.Range(2200, 200).OrderBy(i => OutcomeSlot.Rank($"r{i}")).Take(OutcomeSlot.Cap).Count(i => i >= 2250);
        Assert.InRange(sampled, 60, 120);
        Assert.Equal(sampled + (3 * OutcomeSlot.Cap), late);
    }

    [Fact]
    public async Task AFlushCutShort_LeavesWhatItHadNotWrittenForTheNext_AFailingSlotDropsOnlyItsOwn_Counted()
    {
        var time = new ObservableTimeProvider(Minute.AddSeconds(40));
        using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var store = new FailingOnceStore(new InMemoryStateStore());
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        var next = 0;

        // Shutdown cancels the flush while it writes the later slot (listed first): nothing is lost.
        store.Fail(LaterKey, () => { shutdown.Cancel(); return new OperationCanceledException(shutdown.Token); });
        Add(recorder, 3, Minute.AddSeconds(25), ref next);
        Add(recorder, 2, Minute.AddSeconds(5), ref next);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => recorder.FlushAsync(shutdown.Token));
        await recorder.FlushAsync(Ct);
        Assert.Equal(3, (await store.GetJsonAsync<OutcomeSlot>(LaterKey, Ct))!.Value.Outcomes.Count);
        Assert.Equal(2, (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Outcomes.Count);
        Assert.Equal(0, recorder.Dropped);

        // An error no write expects: that slot's outcomes are dropped and counted (the next flush does not fail on them
        // again), the other slot's kept for the next flush.
        store.Fail(Key, () => new InvalidOperationException("unexpected"));
        Add(recorder, 4, Minute.AddSeconds(5), ref next);
        Add(recorder, 1, Minute.AddSeconds(25), ref next);
        await Assert.ThrowsAsync<InvalidOperationException>(() => recorder.FlushAsync(Ct));
        await recorder.FlushAsync(Ct);
        Assert.Equal(4, recorder.Dropped);
        Assert.Equal(4, (await store.GetJsonAsync<OutcomeSlot>(LaterKey, Ct))!.Value.Outcomes.Count);

        // A slot that no longer reads: its own outcomes dropped and counted, the other slot's written in the same flush.
        await store.SaveAsync(Key, "{not json"u8.ToArray(), etag: null, Ct);
        Add(recorder, 2, Minute.AddSeconds(5), ref next);
        Add(recorder, 1, Minute.AddSeconds(25), ref next);
        await recorder.FlushAsync(Ct);
        Assert.Equal(6, recorder.Dropped);
        Assert.Equal(5, (await store.GetJsonAsync<OutcomeSlot>(LaterKey, Ct))!.Value.Outcomes.Count);
    }

    /// <summary>Fails the next write of one key with the given exception.</summary>
    private sealed class FailingOnceStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        private (string Key, Func<Exception> Error)? _next;

        public void Fail(string key, Func<Exception> error) => _next = (key, error);

        public override Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
            Take(key) is { } error ? Task.FromException<bool>(error) : base.TryCreateAsync(key, value, cancellationToken);

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
            Take(key) is { } error ? Task.FromException(error) : base.SaveAsync(key, value, etag, cancellationToken);

        private Exception? Take(string key)
        {
            if (_next is not { } next || next.Key != key)
            {
                return null;
            }

            _next = null;
            return next.Error();
        }
    }

    private static void Add(OutcomeRecorder recorder, int count, DateTimeOffset receivedAt, ref int next)
    {
        for (var i = 0; i < count; i++, next++)
        {
            recorder.Add(Outcome($"r{next}", receivedAt));
        }
    }

    /// <summary>Adds <paramref name="count"/> outcomes whose rank is above <paramref name="above"/> or below <paramref name="below"/>; returns their ids.</summary>
    private static List<string> AddRanked(OutcomeRecorder recorder, int count, DateTimeOffset receivedAt, ref int next, ulong above = 0, ulong below = ulong.MaxValue)
    {
        var added = new List<string>();
        for (; added.Count < count; next++)
        {
            var rank = OutcomeSlot.Rank($"r{next}");
            if (rank > above && rank < below)
            {
                recorder.Add(Outcome($"r{next}", receivedAt));
                added.Add($"r{next}");
            }
        }

        return added;
    }

    private static MirrorOutcome Outcome(string id, DateTimeOffset receivedAt) => Outcomes.Answered(id, receivedAt);

    /// <summary>Counts the writes to each key.</summary>
    private sealed class WriteCountingStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        private readonly Dictionary<string, int> _writes = [];

        public int Writes(string key) => _writes.GetValueOrDefault(key);

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default)
        {
            _writes[key] = Writes(key) + 1;
            return base.SaveAsync(key, value, etag, cancellationToken);
        }

        public override Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
        {
            _writes[key] = Writes(key) + 1;
            return base.TryCreateAsync(key, value, cancellationToken);
        }
    }
}
