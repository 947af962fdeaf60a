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
    private const string Key = "outcomes/orders/s1/2026-11-26T1200";

    private static readonly DateTimeOffset Minute = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FullSlot_NotRewrittenAtEveryFlush_LaterSlotsStillKept_DropsAddedOnceWhenTheMinuteIsOver()
    {
        var time = new ObservableTimeProvider(Minute.AddSeconds(10));
        var store = new WriteCountingStore(new InMemoryStateStore());
        using var recorder = new OutcomeRecorder(store, time, NullLogger<OutcomeRecorder>.Instance);
        var next = 0;

        // Filling the first slot takes writes; once it is full, more outcomes for it are only counted.
        Add(recorder, OutcomeMinute.PerSlot - 10, Minute.AddSeconds(5), ref next);
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
        Assert.Equal(50, (await store.GetJsonAsync<OutcomeMinute>(Key, Ct))!.Value.Dropped);

        // The next slot of the same minute is still kept: one write, its outcomes in, the full slot's only counted.
        Add(recorder, 30, Minute.AddSeconds(5), ref next);
        Add(recorder, 20, Minute.AddSeconds(25), ref next);
        await recorder.FlushAsync(Ct);
        Assert.Equal(writesWhenFull + 1, store.Writes(Key));
        int[] kept = [OutcomeMinute.PerSlot, 0, 20, 0, 0, 0];
        Assert.Equal(kept, (await store.GetJsonAsync<OutcomeMinute>(Key, Ct))!.Value.KeptPerSlot());

        // Over (a flush interval past its end): the 230 counted since are added, in one write.
        time.SetUtcNow(Minute.AddMinutes(1) + OutcomeRecorder.FlushInterval);
        await recorder.FlushAsync(Ct);
        var minute = (await store.GetJsonAsync<OutcomeMinute>(Key, Ct))!.Value;
        Assert.Equal(OutcomeMinute.PerSlot + 20, minute.Outcomes.Count);
        Assert.Equal(280, minute.Dropped);
        Assert.Equal(writesWhenFull + 2, store.Writes(Key));

        // A straggler for that minute takes the document's own path: counted once more.
        Add(recorder, 1, Minute.AddSeconds(5), ref next);
        await recorder.FlushAsync(Ct);
        Assert.Equal(281, (await store.GetJsonAsync<OutcomeMinute>(Key, Ct))!.Value.Dropped);
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
