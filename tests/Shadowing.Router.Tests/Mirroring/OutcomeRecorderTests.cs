using Microsoft.Extensions.Logging.Abstractions;
using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Router.Mirroring;
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
    public async Task FullSlot_NotRewrittenAtEveryFlush_LaterSlotsStillKept_DropsAddedOnceWhenTheSlotIsOver()
    {
        var time = new ObservableTimeProvider(Minute.AddSeconds(10));
        var store = new WriteCountingStore(new InMemoryStateStore());
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        var next = 0;

        // Filling the slot from 0:04 takes writes; once it is full, more outcomes for it are only counted.
        Add(recorder, OutcomeSlot.Cap - 10, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        Add(recorder, 60, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        var writesWhenFull = store.Writes(Key);
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            Add(recorder, 40, Minute.AddSeconds(5), ref next);
            await recorder.FlushAsync(Ct);
        }

        Assert.Equal(writesWhenFull, store.Writes(Key));
        Assert.Equal(50, (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Dropped);

        // A later slot of the same minute is still kept, in its own document; the full slot's outcomes are only counted.
        Add(recorder, 30, Minute.AddSeconds(5), ref next);
        Add(recorder, 20, Minute.AddSeconds(25), ref next);
        await recorder.FlushAsync(Ct);
        Assert.Equal(writesWhenFull, store.Writes(Key));
        Assert.Equal(20, (await store.GetJsonAsync<OutcomeSlot>(LaterKey, Ct))!.Value.Outcomes.Count);

        // Over (the delay past its end): the 230 counted since are added, in one write.
        time.SetUtcNow(Minute.AddSeconds(8) + OutcomeRecorder.DropCountDelay - TimeSpan.FromMilliseconds(1));
        await recorder.FlushAsync(Ct);
        Assert.Equal(writesWhenFull, store.Writes(Key));
        time.SetUtcNow(Minute.AddSeconds(8) + OutcomeRecorder.DropCountDelay);
        await recorder.FlushAsync(Ct);
        var slot = (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value;
        Assert.Equal(OutcomeSlot.Cap, slot.Outcomes.Count);
        Assert.Equal(280, slot.Dropped);
        Assert.Equal(writesWhenFull + 1, store.Writes(Key));

        // A straggler for that slot takes the document's own path: counted once more.
        Add(recorder, 1, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        Assert.Equal(281, (await store.GetJsonAsync<OutcomeSlot>(Key, Ct))!.Value.Dropped);
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

        // The slot from 0:44 kept its first 120 (to 0:46.4), 70 of them from 0:45 on; the three after it kept 120 each.
        Assert.Equal(70 + (3 * OutcomeSlot.Cap), late);
    }

    private static void Add(OutcomeRecorder recorder, int count, DateTimeOffset receivedAt, ref int next)
    {
        for (var i = 0; i < count; i++, next++)
        {
            recorder.Add(new MirrorOutcome
            {
                RequestId = $"r{next}",
                Service = "orders",
                Method = "GET",
                Path = "/items",
                ReceivedAt = receivedAt,
                Production = new EndpointAnswer("p1", 200, 1, 10),
                Copy = new EndpointAnswer("s1", 200, 1, 10),
            });
        }
    }

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
