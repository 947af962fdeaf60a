using System.Text;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Data;
using Shadowing.Core.State;
using Shadowing.Embedded.State;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.Data;

/// <summary>Data sync over the embedded store's real change log (production and the shadow's copy in one SQLite store, as embedded).</summary>
public sealed class DataSyncTests : IDisposable
{
    private const string Production = "data/orders/";
    private const string Copy = "shadow-data/orders/s1/";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private readonly SqliteStateStore _store;

    public DataSyncTests() => _store = new SqliteStateStore(SqliteStateStore.InMemory, _time);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task Run_NewShadow_CopiesEverything_ThenOnlyWhatChanged_WithDeletes()
    {
        for (var i = 0; i < 10; i++)
        {
            await Put($"k{i}", $"v{i}");
        }

        var first = await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        await Put("k3", "changed");
        await _store.DeleteAsync(Production + "k4", etag: null, Ct);
        await Put("k10", "new");
        var second = await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.Equal((true, 10, 0), (first.Seeded, first.Copied, first.Applied));
        Assert.Equal((false, 0, 3), (second.Seeded, second.Copied, second.Applied));
        Assert.Equal(await Contents(Production), await Contents(Copy));
        Assert.DoesNotContain("k4", (await Contents(Copy)).Keys);
        Assert.Equal(TimeSpan.Zero, second.Lag);
    }

    [Fact]
    public async Task Run_WatermarkLost_SeedsByComparingHashes_ShippingOnlyWhatDiffers()
    {
        for (var i = 0; i < 50; i++)
        {
            await Put($"k{i:D2}", new string('x', 100) + i);
        }

        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        await _store.DeleteAsync(StateKeys.ShadowSync("orders", "s1"), etag: null, Ct); // as if the copy came from elsewhere
        await Put("k07", "changed");
        await _store.DeleteAsync(Production + "k08", etag: null, Ct);
        await _store.SaveAsync(Copy + "stray", "left over"u8.ToArray(), etag: null, Ct);

        var run = await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.True(run.Seeded);
        Assert.Equal((1, 2), (run.Copied, run.Deleted)); // k07 shipped; k08 and the stray key deleted
        Assert.Equal(await Contents(Production), await Contents(Copy));
        Assert.True(run.ShippedBytes < 50 * 100, $"shipped {run.ShippedBytes} bytes: digests and one record, not every value");
    }

    [Fact]
    public async Task Run_LogPrunedPastTheWatermark_SeedsAgain()
    {
        await Put("a", "1");
        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        _time.Advance(TimeSpan.FromHours(1));
        await Put("a", "2");
        await _store.DeleteAsync(Production + "a", etag: null, Ct);
        await Put("b", "3");
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(4, await _store.PruneAsync(_time.GetUtcNow(), Ct)); // every change so far, the synced one too

        var run = await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.True(run.Seeded);
        Assert.Equal(await Contents(Production), await Contents(Copy));
    }

    [Fact]
    public async Task Run_QuietService_ItsWatermarkKeepsUpWithTheStore_SoPruningOthersChangesDoesNotSeedItAgain()
    {
        await Put("a", "1");
        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        for (var i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await _store.SaveAsync($"data/billing/b{i}", "x"u8.ToArray(), etag: null, Ct); // another service is busy
        }

        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct); // nothing for orders: the watermark still moves
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(6, await _store.PruneAsync(_time.GetUtcNow(), Ct)); // orders' change and billing's

        var run = await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.False(run.Seeded);
        Assert.Equal(await Contents(Production), await Contents(Copy));
    }

    [Fact]
    public async Task Run_TimeShifted_ShowsNoChangeYoungerThanTheShift_AndReportsTheLag()
    {
        await Put("a", "old");
        _time.Advance(TimeSpan.FromMinutes(20));
        await Put("a", "newer");
        await Put("b", "newer");
        _time.Advance(TimeSpan.FromMinutes(20)); // the first write is 40 min old, the others 20

        var run = await Sync().RunAsync("orders", "s1", TimeSpan.FromMinutes(30), Ct);

        Assert.Equal(new Dictionary<string, string> { ["a"] = "old" }, await Contents(Copy));
        var lag = TimeSpan.FromMinutes(20) + TimeSpan.FromSeconds(1); // production has had the first newer write that long
        Assert.Equal(lag, run.Lag);
        var mark = (await _store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync("orders", "s1"), Ct))!.Value;
        Assert.Equal(lag, mark.LagAt(_time.GetUtcNow()));

        _time.Advance(TimeSpan.FromMinutes(10));
        var later = await Sync().RunAsync("orders", "s1", TimeSpan.FromMinutes(30), Ct);

        Assert.Equal(await Contents(Production), await Contents(Copy));
        Assert.Equal(TimeSpan.Zero, later.Lag);
    }

    [Fact]
    public async Task Run_TimeShiftedWithNothingToApply_SeedsOnce_AndKeepsTheShadowsOwnWrites()
    {
        var first = await Sync().RunAsync("orders", "s1", TimeSpan.FromMinutes(30), Ct);
        await _store.SaveAsync(Copy + "mirrored", "a write the shadow took"u8.ToArray(), etag: null, Ct);

        var second = await Sync().RunAsync("orders", "s1", TimeSpan.FromMinutes(30), Ct);

        Assert.True(first.Seeded);
        Assert.False(second.Seeded);
        Assert.NotNull(await _store.GetAsync(Copy + "mirrored", Ct));
    }

    [Fact]
    public async Task Run_TimeShiftedAfterThePrunedLog_RefusesSayingWhy()
    {
        await Put("a", "1");
        _time.Advance(TimeSpan.FromHours(1));
        await _store.PruneAsync(_time.GetUtcNow(), Ct);

        var error = await Assert.ThrowsAsync<DataSyncException>(() => Sync().RunAsync("orders", "s1", TimeSpan.FromMinutes(5), Ct));

        Assert.Contains("pruned", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_RemovesTheCopyAndItsWatermark()
    {
        await Put("a", "1");
        await Put("b", "2");
        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.Equal(2, await DataSync.DeleteCopyAsync(_store, "orders", "s1", Ct));

        Assert.Empty(await _store.ListKeysAsync(Copy, Ct));
        Assert.Null(await _store.GetAsync(StateKeys.ShadowSync("orders", "s1"), Ct));
        Assert.Equal(2, (await Contents(Production)).Count);
    }

    /// <summary>
    /// Random writes and deletes on production, syncs killed at random points (a write of the shadow's store fails) and
    /// restarted, in two rounds, with random page sizes: every time, the copy ends equal to production (no duplicate,
    /// no missed delete, no lost change) and the watermark at production's last change.
    /// </summary>
    [Fact]
    public Task Run_KilledAnywhereAndRestarted_ConvergesToProductionAtTheWatermark() =>
        Gen.Select(Operations, Operations, Gen.Int[1, 12], Gen.Int[1, 12], Gen.Int[1, 6])
            .SampleAsync(
                async (before, after, kill1, kill2, pageSize) =>
                {
                    var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
                    using var store = new SqliteStateStore(SqliteStateStore.InMemory, time);
                    foreach (var (operations, kill) in new[] { (before, kill1), (after, kill2) })
                    {
                        await ApplyAsync(store, time, operations);
                        var dying = new DyingStore(store, kill);
                        try
                        {
                            await new DataSync(store, store, dying, time, pageSize).RunAsync("orders", "s1", TimeSpan.Zero, Ct);
                        }
                        catch (StateStoreException)
                        {
                            // killed midway: the restart below must pick up from what was applied
                        }

                        var restarted = await new DataSync(store, store, store, time, pageSize).RunAsync("orders", "s1", TimeSpan.Zero, Ct);
                        Assert.Equal(await ContentsOf(store, Production), await ContentsOf(store, Copy));
                        var last = (await store.ReadAsync(Production, 0, int.MaxValue, Ct)).Changes.LastOrDefault()?.Sequence ?? 0;
                        Assert.True(restarted.Sequence >= last, $"watermark {restarted.Sequence} behind the last change {last}");
                    }
                },
                iter: 150,
                threads: 1);

    private static Gen<(bool Delete, int Key, int Value)[]> Operations { get; } =
        Gen.Select(Gen.Int[0, 4], Gen.Int[0, 12], Gen.Int[0, 1000]).Select(o => (o.Item1 == 0, o.Item2, o.Item3)).Array[0, 40];

    private static async Task ApplyAsync(SqliteStateStore store, FakeTimeProvider time, (bool Delete, int Key, int Value)[] operations)
    {
        foreach (var (delete, key, value) in operations)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            if (delete)
            {
                await store.DeleteAsync($"{Production}k{key}", etag: null, Ct);
            }
            else
            {
                await store.SaveAsync($"{Production}k{key}", Encoding.UTF8.GetBytes($"v{value}"), etag: null, Ct);
            }
        }
    }

    [Fact]
    public async Task Run_AWatermarkFromBeforeSettingsWereRecorded_SeedsAgainWhenTheCopyIsToBeMasked()
    {
        // A copy made unmasked by a version that recorded no settings, then masking turned on: its values are production's.
        await Put("c1", "ana.lopez@mail.example.org");
        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        var mark = (await _store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync("orders", "s1"), Ct))!.Value;
        await _store.SaveJsonAsync(StateKeys.ShadowSync("orders", "s1"), mark with { Settings = null }, cancellationToken: Ct);

        var masked = await new DataSync(_store, _store, _store, _time, pageSize: 2, transform: new Shadowing.Core.Data.Synthetic.DataMasker([], seed: 1).Mask, settings: "mask=;seed=1;masker=2").RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.True(masked.Seeded);
        Assert.DoesNotContain("ana.lopez", (await Contents(Copy))["c1"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Differential_AppliesAChangeStampedAheadOfItsClock()
    {
        // With Dapr a change carries its writer's clock: one a minute ahead of the workflows host's is applied now, not a
        // minute later (the copy would trail production by the clocks' difference, its lag reading 0).
        await Put("k0", "v0");
        var behindClock = new FakeTimeProvider(_time.GetUtcNow().AddMinutes(-1));
        await new DataSync(_store, _store, _store, behindClock, pageSize: 2).RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        await Put("k1", "v1");

        var run = await new DataSync(_store, _store, _store, behindClock, pageSize: 2).RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.Equal(1, run.Applied);
        Assert.Equal("v1", (await Contents(Copy))["k1"]);
    }

    private DataSync Sync() => new(_store, _store, _store, _time, pageSize: 2);

    [Fact]
    public async Task Run_ATransactionThatFailsPartWay_AppliedTheOthers_TheNextRunStillAppliesTheChange()
    {
        await Put("k1", "one");
        await Put("k2", "two");
        await Sync().RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        await Put("k1", "changed");
        await Put("k2", "changed too");
        var redisLike = new PartialTransactionStore(_store, Copy + "k1");

        await Assert.ThrowsAsync<StateStoreException>(() => new DataSync(_store, _store, redisLike, _time).RunAsync("orders", "s1", TimeSpan.Zero, Ct));
        await new DataSync(_store, _store, redisLike, _time).RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.Equal(await Contents(Production), await Contents(Copy));
    }

    [Fact]
    public async Task Run_RecordsLargerThanOneRequestCarries_AppliedInTransactionsUnderDaprsLimit()
    {
        // 40 records of 100 KiB: a page of them in one transaction is 4 MB, over daprd's 4 MiB request limit (every attempt
        // failed, and the sync replayed the page for ever).
        var large = new string('x', 100 * 1024);
        for (var i = 0; i < 40; i++)
        {
            await Put($"k{i:D2}", large + "seeded");
        }

        var recording = new RecordingStore(_store);
        await new DataSync(_store, _store, recording, _time).RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        for (var i = 0; i < 40; i++)
        {
            await Put($"k{i:D2}", large + "changed");
        }

        await new DataSync(_store, _store, recording, _time).RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.Equal(await Contents(Production), await Contents(Copy));
        Assert.True(recording.Transactions.Count >= 4, $"{recording.Transactions.Count} transactions"); // two for seeding, two for the page
        Assert.All(recording.Transactions, bytes => Assert.InRange(bytes, 1, DataSync.MaxTransactionBytes));
    }

    private async Task Put(string key, string value)
    {
        _time.Advance(TimeSpan.FromSeconds(1));
        await _store.SaveAsync(Production + key, Encoding.UTF8.GetBytes(value), etag: null, Ct);
    }

    private Task<Dictionary<string, string>> Contents(string prefix) => ContentsOf(_store, prefix);

    private static async Task<Dictionary<string, string>> ContentsOf(IStateStore store, string prefix)
    {
        var contents = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in await store.ListKeysAsync(prefix, Ct))
        {
            contents[key[prefix.Length..]] = Encoding.UTF8.GetString((await store.GetAsync(key, Ct))!.Value.Span);
        }

        return contents;
    }

    /// <summary>
    /// A store whose transactions behave as Redis's do (a MULTI/EXEC of scripts): one operation on <paramref name="failing"/>
    /// fails, once (its ETag changed meanwhile), and every other operation of the transaction is applied all the same.
    /// </summary>
    private sealed class PartialTransactionStore(IStateStore inner, string failing) : DelegatingStateStore(inner)
    {
        private bool _failed;

        public override async Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
        {
            if (_failed || !operations.Any(o => o.Key == failing))
            {
                await base.TransactAsync(operations, cancellationToken);
                return;
            }

            _failed = true;
            await base.TransactAsync([.. operations.Where(o => o.Key != failing)], cancellationToken);
            throw new StateStoreException($"ETag mismatch on {failing}");
        }
    }

    /// <summary>Records how many bytes (keys and values) each transaction carried.</summary>
    private sealed class RecordingStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        public List<long> Transactions { get; } = [];

        public override Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
        {
            Transactions.Add(operations.Sum(o => (long)Encoding.UTF8.GetByteCount(o.Key) + (o is UpsertOperation u ? u.Value.Length : 0)));
            return base.TransactAsync(operations, cancellationToken);
        }
    }

    /// <summary>A store whose transactions fail from the <paramref name="killAt"/>-th on, before applying anything: a process killed mid-sync.</summary>
    private sealed class DyingStore(IStateStore inner, int killAt) : DelegatingStateStore(inner)
    {
        private int _transactions;

        public override Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) =>
            ++_transactions >= killAt ? throw new StateStoreException("killed") : base.TransactAsync(operations, cancellationToken);

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
            ++_transactions >= killAt ? throw new StateStoreException("killed") : base.SaveAsync(key, value, etag, cancellationToken);
    }
}
