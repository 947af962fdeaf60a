using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.State;
using Shadowing.Dapr.State;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.State;

namespace Shadowing.Dapr.Tests.State;

/// <summary>The shared adapter suite over the wire (the real DaprClient) against the fake sidecar as daprd + Redis.</summary>
public sealed class DaprStateStoreOnRedisTests : DaprStateStoreTests
{
    /// <inheritdoc />
    protected override FakeStoreMode Mode => FakeStoreMode.Redis;

    /// <inheritdoc />
    protected override StoreGuarantees Guarantees { get; } = new() { AtomicTransactions = false, ETagsSurviveDelete = false };

    [Fact]
    public async Task Restart_NewAdapterOnExistingCollections_WritesAndListsThem()
    {
        // A new process (new adapter, empty caches) meets index documents an earlier one created with first-write.
        await Store.SaveAsync("metrics/orders/p1/2026-01-01", Bytes("1"), null, Ct);
        await Store.SaveAsync("routing/orders", Bytes("1"), null, Ct);
        var restarted = new DaprStateStore(Sidecar.CreateClient(), Time);

        await restarted.SaveAsync("metrics/orders/p1/2026-01-02", Bytes("2"), null, Ct);
        await restarted.SaveAsync("metrics/orders/p2/2026-01-02", Bytes("2"), null, Ct);
        await restarted.SaveAsync("routing/orders", Bytes("2"), null, Ct);
        Assert.True(await restarted.TryCreateAsync("routing/payments", Bytes("1"), Ct));

        Assert.Equal(["metrics/orders/p1/2026-01-01", "metrics/orders/p1/2026-01-02", "metrics/orders/p2/2026-01-02"], await restarted.ListKeysAsync("metrics/", Ct));
        Assert.Equal(["routing/orders", "routing/payments"], await restarted.ListKeysAsync("routing/", Ct));
    }

    [Fact]
    public async Task Restart_ConcurrentAdaptersCreatingOneCollection_AllKeysListed()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => new DaprStateStore(Sidecar.CreateClient(), Time)).ToArray();

        await Task.WhenAll(stores.Select((store, i) => Task.Run(() => store.SaveAsync($"metrics/new/p{i}/2026-01-01", Bytes("1"), null, Ct))));

        Assert.Equal(Enumerable.Range(0, 4).Select(i => $"metrics/new/p{i}/2026-01-01"), await Store.ListKeysAsync("metrics/", Ct));
    }

    [Fact]
    public async Task Save_InEverNewCollections_RemembersABoundedNumber_AndStillListsEveryKey()
    {
        // Outcome slots are grouped by hour: a router creates a collection per endpoint every hour for as long as it runs.
        var store = new DaprStateStore(Sidecar.CreateClient(), Time);
        var keys = Enumerable.Range(0, DaprStateStore.MaxRegistered + 20).Select(hour => $"outcome-slots/orders/s1/{hour:D4}/0000").ToList();
        foreach (var key in keys)
        {
            await store.SaveAsync(key, Bytes("1"), null, Ct);
        }

        Assert.InRange(store.Registered, 1, DaprStateStore.MaxRegistered);

        // Met again after the memory started over: registered again, nothing lost.
        await store.SaveAsync($"{keys[0]}-again", Bytes("1"), null, Ct);
        Assert.Equal(keys.Append($"{keys[0]}-again").Order(StringComparer.Ordinal), await store.ListKeysAsync("outcome-slots/", Ct));
    }
}

/// <summary>The shared adapter suite against the fake sidecar as daprd + PostgreSQL (v2).</summary>
public sealed class DaprStateStoreOnPostgreSqlTests : DaprStateStoreTests
{
    /// <inheritdoc />
    protected override FakeStoreMode Mode => FakeStoreMode.PostgreSql;

    [Fact]
    public async Task Save_AnEmptyValue_FailsAsTheV2TablesNotNullColumnRefusesIt_WhereRedisStoresIt()
    {
        await using var redis = await FakeDaprSidecar.StartAsync(FakeStoreMode.Redis);
        var onRedis = new DaprStateStore(redis.CreateClient(), Time);

        await onRedis.SaveAsync("data/orders/empty", ReadOnlyMemory<byte>.Empty, null, Ct);
        var error = await Assert.ThrowsAsync<StateStoreException>(() => Store.SaveAsync("data/orders/empty", ReadOnlyMemory<byte>.Empty, null, Ct));

        Assert.Equal(0, (await onRedis.GetAsync("data/orders/empty", Ct))!.Value.Length);
        Assert.Contains("not-null", error.ToString(), StringComparison.Ordinal);
        Assert.Null(await Store.GetAsync("data/orders/empty", Ct));
    }
}

/// <summary>The shared suite, plus the adapter's own behaviour, against the fake sidecar in one component mode.</summary>
public abstract class DaprStateStoreTests : StateStoreContractTests
{
    private FakeDaprSidecar? _sidecar;

    /// <summary>The component the sidecar reproduces.</summary>
    protected abstract FakeStoreMode Mode { get; }

    /// <summary>The sidecar.</summary>
    protected FakeDaprSidecar Sidecar => _sidecar!;

    /// <summary>The adapter's clock (pending index entries are settled by age).</summary>
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    /// <inheritdoc />
    protected override async Task<IStateStore> CreateStoreAsync()
    {
        _sidecar = await FakeDaprSidecar.StartAsync(Mode);
        return new DaprStateStore(_sidecar.CreateClient(), Time);
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeStoreAsync(IStateStore store)
    {
        if (_sidecar is not null)
        {
            await _sidecar.DisposeAsync();
        }
    }

    [Fact]
    public async Task Save_SidecarStoreFails_ThrowsStateStoreExceptionWithDaprStatus()
    {
        Sidecar.State.Fault = _ => new RpcException(new Status(StatusCode.Unavailable, "redis: connection refused"));

        var error = await Assert.ThrowsAsync<StateStoreException>(() => Store.SaveAsync("routing/orders", Bytes("1"), null, Ct));

        Assert.IsNotType<StateConflictException>(error);
        Assert.Contains("redis: connection refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TryCreate_SidecarStoreFails_ThrowsRatherThanReportingAnExistingKey()
    {
        Sidecar.State.Fault = method => method == "SaveState" ? new RpcException(new Status(StatusCode.Internal, "failed saving state in state store statestore: connection reset")) : null;

        await Assert.ThrowsAsync<StateStoreException>(() => Store.TryCreateAsync("routing/orders", Bytes("1"), Ct));
    }

    [Fact]
    public async Task Save_StaleETag_TheSidecarDecides()
    {
        // The conflict must come from the sidecar's own ETag check, not from a client-side guess.
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var stale = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.SaveAsync("k/a", Bytes("2"), null, Ct);
        var before = Sidecar.State.Calls.GetValueOrDefault("SaveState");

        await Assert.ThrowsAsync<StateConflictException>(() => Store.SaveAsync("k/a", Bytes("3"), stale, Ct));

        Assert.Equal(before + 1, Sidecar.State.Calls["SaveState"]);
    }

    [Fact]
    public async Task Save_KeepsIndexDocumentsUnderReservedPrefix()
    {
        await Store.SaveAsync("metrics/orders/a/2026-01-01", Bytes("1"), null, Ct);

        Assert.Contains("$index/metrics/orders/a/", Sidecar.State.Keys);
        Assert.Contains("metrics/orders/a/2026-01-01", Sidecar.State.Keys);
    }

    [Fact]
    public async Task List_AnIndexThatIsNotReadable_IsAStoreFailureNamingIt()
    {
        await Store.SaveAsync("metrics/orders/a/2026-01-01", Bytes("1"), null, Ct);
        using (var client = Sidecar.CreateClient())
        {
            var (_, etag) = await client.GetByteStateAndETagAsync(Shadowing.Dapr.DaprComponents.StateStore, "$index/metrics/orders/a/", cancellationToken: Ct);
            Assert.True(await client.TrySaveByteStateAsync(Shadowing.Dapr.DaprComponents.StateStore, "$index/metrics/orders/a/", Bytes("not json"), etag, cancellationToken: Ct));
        }

        var error = await Assert.ThrowsAsync<StateStoreException>(() => Store.ListKeysAsync("metrics/orders/a/", Ct));

        Assert.Contains("the index of 'metrics/orders/a/' ($index/metrics/orders/a/) cannot be read", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotListed_WritesReadsAndDeletesWithoutAnIndex_AndRefusesToList()
    {
        var log = new DaprStateStore(Sidecar.CreateClient(), Time, listed: false);

        await log.SaveAsync("data-feed/orders/log/1", Bytes("one"), null, Ct);
        Assert.True(await log.TryCreateAsync("data-feed/orders/log/2", Bytes("two"), Ct));
        await log.SaveAsync("data-feed/orders/log/1", Bytes("uno"), null, Ct);
        await log.DeleteAsync("data-feed/orders/log/2", etag: null, Ct);

        Assert.Equal("uno", System.Text.Encoding.UTF8.GetString((await log.GetAsync("data-feed/orders/log/1", Ct))!.Value.Span));
        Assert.Null(await log.GetAsync("data-feed/orders/log/2", Ct));
        Assert.Equal(["data-feed/orders/log/1"], Sidecar.State.Keys.Where(k => k.Contains("data-feed", StringComparison.Ordinal)));
        await Assert.ThrowsAsync<InvalidOperationException>(() => log.ListKeysAsync("data-feed/orders/log/", Ct));
    }

    [Fact]
    public async Task Update_OfAnExistingKey_LeavesItsIndexAlone()
    {
        await Store.SaveAsync("metrics/orders/a/2026-01-01", Bytes("{\"value\":0}"), null, Ct);
        var index = Sidecar.State.Store.Get("$index/metrics/orders/a/")!.Value.ETag;

        for (var i = 0; i < 5; i++)
        {
            await Store.UpdateJsonAsync<Counter>("metrics/orders/a/2026-01-01", c => new Counter(i), cancellationToken: Ct);
            await Store.SaveAsync("metrics/orders/a/2026-01-01", Bytes("{\"value\":1}"), null, Ct);
        }

        Assert.Equal(index, Sidecar.State.Store.Get("$index/metrics/orders/a/")!.Value.ETag);
    }

    [Fact]
    public async Task List_PendingEntryOfACreateThatNeverHappened_NotListedAndRepairedOnceStale()
    {
        // A writer marked k/ghost pending and died before writing it.
        await Store.SaveAsync("k/real", Bytes("1"), null, Ct);
        var index = Sidecar.State.Store.Get("$index/k/")!.Value;
        var pending = System.Text.Encoding.UTF8.GetString(index.Value).Replace("}}", ",\"ghost\":\"2026-12-01T12:00:00+00:00\"}}", StringComparison.Ordinal);
        Sidecar.State.Store.Set("$index/k/", System.Text.Encoding.UTF8.GetBytes(pending), index.ETag, FakeConcurrency.Unspecified);

        Assert.Equal(["k/real"], await Store.ListKeysAsync("k/", Ct));
        Assert.Contains("ghost", System.Text.Encoding.UTF8.GetString(Sidecar.State.Store.Get("$index/k/")!.Value.Value), StringComparison.Ordinal);

        Time.Advance(DaprStateStore.PendingGrace + TimeSpan.FromSeconds(1));
        Assert.Equal(["k/real"], await Store.ListKeysAsync("k/", Ct));

        Assert.DoesNotContain("ghost", System.Text.Encoding.UTF8.GetString(Sidecar.State.Store.Get("$index/k/")!.Value.Value), StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_PendingEntryOfACreateThatHappened_ListedAndSettled()
    {
        // A writer marked k/b pending, wrote it, and died before settling the index.
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var index = Sidecar.State.Store.Get("$index/k/")!.Value;
        var pending = System.Text.Encoding.UTF8.GetString(index.Value).Replace("}}", ",\"b\":\"2026-12-01T12:00:00+00:00\"}}", StringComparison.Ordinal);
        Sidecar.State.Store.Set("$index/k/", System.Text.Encoding.UTF8.GetBytes(pending), index.ETag, FakeConcurrency.Unspecified);
        Sidecar.State.Store.Set("k/b", System.Text.Encoding.UTF8.GetBytes("2"), null, FakeConcurrency.FirstWrite);

        Assert.Equal(["k/a", "k/b"], await Store.ListKeysAsync("k/", Ct));

        Time.Advance(DaprStateStore.PendingGrace + TimeSpan.FromSeconds(1));
        await Store.ListKeysAsync("k/", Ct);
        Assert.Contains("\"b\":null", System.Text.Encoding.UTF8.GetString(Sidecar.State.Store.Get("$index/k/")!.Value.Value), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transact_FailsInStore_ThrowsStateStoreException_AndTheIndexFollowsTheKeys()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        Sidecar.State.Fault = method => method == "ExecuteStateTransaction" ? new RpcException(new Status(StatusCode.Internal, "error while executing state transaction: connection reset")) : null;

        var error = await Assert.ThrowsAsync<StateStoreException>(() => Store.TransactAsync([StateOperation.Upsert("k/a", Bytes("2")), StateOperation.Upsert("k/b", Bytes("2"))], Ct));

        Assert.IsNotType<StateConflictException>(error);
        Sidecar.State.Fault = null;
        Assert.Equal("1", Text((await Store.GetAsync("k/a", Ct))!.Value));
        Assert.Null(await Store.GetAsync("k/b", Ct));
        Assert.Equal(["k/a"], await Store.ListKeysAsync("k/", Ct));
    }

    private sealed record Counter(int Value);
}
