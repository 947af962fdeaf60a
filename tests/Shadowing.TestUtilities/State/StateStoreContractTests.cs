using System.Text;
using Shadowing.Core.State;

namespace Shadowing.TestUtilities.State;

/// <summary>What a store can promise; a store that cannot promise one is held to its documented behaviour instead.</summary>
public sealed record StoreGuarantees
{
    /// <summary>Everything (SQLite, in-memory, Dapr over PostgreSQL).</summary>
    public static StoreGuarantees All { get; } = new();

    /// <summary>A failed transaction applies nothing (false for Redis: no rollback, every other operation applied).</summary>
    public bool AtomicTransactions { get; init; } = true;

    /// <summary>An ETag read before a delete never matches the re-created key (false for Redis: versions restart at 1).</summary>
    public bool ETagsSurviveDelete { get; init; } = true;
}

/// <summary>
/// The behaviour every <see cref="IStateStore"/> adapter must have: Dapr's state semantics. The embedded SQLite
/// store and the Dapr adapter (against the fake sidecar in each component mode) derive from this class and must
/// pass all of it; where a component cannot give a guarantee (<see cref="Guarantees"/>), the test asserts what
/// the adapter documents for it instead of skipping.
/// </summary>
public abstract class StateStoreContractTests : IAsyncLifetime
{
    private IStateStore? _store;

    /// <summary>What the store under test promises.</summary>
    protected virtual StoreGuarantees Guarantees => StoreGuarantees.All;

    /// <summary>The store under test, fresh and empty for each test.</summary>
    protected IStateStore Store => _store ?? throw new InvalidOperationException("Not initialized.");

    /// <summary>Creates a fresh, empty store.</summary>
    protected abstract Task<IStateStore> CreateStoreAsync();

    /// <summary>Releases the store.</summary>
    protected virtual ValueTask DisposeStoreAsync(IStateStore store) =>
        store is IAsyncDisposable asyncDisposable ? asyncDisposable.DisposeAsync()
        : store is IDisposable disposable ? Dispose(disposable)
        : ValueTask.CompletedTask;

    /// <inheritdoc />
    public async ValueTask InitializeAsync() => _store = await CreateStoreAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await DisposeStoreAsync(_store);
        }

        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Get_MissingKey_ReturnsNull()
    {
        Assert.Null(await Store.GetAsync("routing/none", Ct));
    }

    [Fact]
    public async Task Save_ThenGet_ReturnsValueAndETag()
    {
        await Store.SaveAsync("routing/orders", Bytes("v1"), null, Ct);

        var item = await Store.GetAsync("routing/orders", Ct);

        Assert.NotNull(item);
        Assert.Equal("v1", Text(item.Value));
        Assert.False(string.IsNullOrEmpty(item.ETag));
    }

    [Fact]
    public async Task Save_EachWrite_ProducesNewETag()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var first = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var second = (await Store.GetAsync("k/a", Ct))!.ETag;

        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task Save_WithCurrentETag_Succeeds()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var etag = (await Store.GetAsync("k/a", Ct))!.ETag;

        await Store.SaveAsync("k/a", Bytes("2"), etag, Ct);

        Assert.Equal("2", Text((await Store.GetAsync("k/a", Ct))!.Value));
    }

    [Fact]
    public async Task Save_WithStaleETag_ThrowsConflictAndKeepsNewerValue()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var stale = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.SaveAsync("k/a", Bytes("2"), stale, Ct);

        var error = await Assert.ThrowsAsync<StateConflictException>(() => Store.SaveAsync("k/a", Bytes("3"), stale, Ct));

        Assert.Equal("k/a", error.Key);
        Assert.Equal("2", Text((await Store.GetAsync("k/a", Ct))!.Value));
    }

    [Fact]
    public async Task Save_WithETagForMissingKey_ThrowsConflict()
    {
        await Assert.ThrowsAsync<StateConflictException>(() => Store.SaveAsync("k/missing", Bytes("1"), "1", Ct));
        Assert.Null(await Store.GetAsync("k/missing", Ct));
    }

    [Fact]
    public async Task Save_WithoutETag_LastWriteWins()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        await Store.SaveAsync("k/a", Bytes("2"), null, Ct);

        Assert.Equal("2", Text((await Store.GetAsync("k/a", Ct))!.Value));
    }

    [Fact]
    public async Task Delete_WithCurrentETag_RemovesKey()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var etag = (await Store.GetAsync("k/a", Ct))!.ETag;

        await Store.DeleteAsync("k/a", etag, Ct);

        Assert.Null(await Store.GetAsync("k/a", Ct));
    }

    [Fact]
    public async Task Delete_WithStaleETag_ThrowsConflictAndKeepsKey()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var stale = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.SaveAsync("k/a", Bytes("2"), null, Ct);

        await Assert.ThrowsAsync<StateConflictException>(() => Store.DeleteAsync("k/a", stale, Ct));

        Assert.NotNull(await Store.GetAsync("k/a", Ct));
    }

    [Fact]
    public async Task Delete_MissingKeyWithoutETag_IsNoOp()
    {
        await Store.DeleteAsync("k/none", null, Ct);

        Assert.Null(await Store.GetAsync("k/none", Ct));
    }

    [Fact]
    public async Task Delete_ThenRecreate_OldETagNoLongerMatches()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var old = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.DeleteAsync("k/a", old, Ct);
        await Store.SaveAsync("k/a", Bytes("2"), null, Ct);

        if (Guarantees.ETagsSurviveDelete)
        {
            await Assert.ThrowsAsync<StateConflictException>(() => Store.SaveAsync("k/a", Bytes("3"), old, Ct));
        }
        else
        {
            // Documented for Redis: the re-created key starts again at version 1, so the old ETag matches.
            await Store.SaveAsync("k/a", Bytes("3"), old, Ct);
            Assert.Equal("3", Text((await Store.GetAsync("k/a", Ct))!.Value));
        }
    }

    [Fact]
    public async Task Transact_AllValid_AppliesEveryOperation()
    {
        await Store.SaveAsync("k/old", Bytes("x"), null, Ct);

        await Store.TransactAsync(
            [StateOperation.Upsert("k/a", Bytes("1")), StateOperation.Upsert("k/b", Bytes("2")), StateOperation.Delete("k/old")],
            Ct);

        Assert.Equal("1", Text((await Store.GetAsync("k/a", Ct))!.Value));
        Assert.Equal("2", Text((await Store.GetAsync("k/b", Ct))!.Value));
        Assert.Null(await Store.GetAsync("k/old", Ct));
    }

    [Fact]
    public async Task Transact_OneStaleETag_AppliesNothing()
    {
        await Store.SaveAsync("k/a", Bytes("a1"), null, Ct);
        await Store.SaveAsync("k/b", Bytes("b1"), null, Ct);
        var staleB = (await Store.GetAsync("k/b", Ct))!.ETag;
        await Store.SaveAsync("k/b", Bytes("b2"), null, Ct);

        var error = await Assert.ThrowsAsync<StateConflictException>(() => Store.TransactAsync(
            [StateOperation.Upsert("k/a", Bytes("a2")), StateOperation.Upsert("k/new", Bytes("n")), StateOperation.Upsert("k/b", Bytes("b3"), staleB)],
            Ct));

        Assert.Equal("k/b", error.Key);
        Assert.Equal("b2", Text((await Store.GetAsync("k/b", Ct))!.Value));
        if (Guarantees.AtomicTransactions)
        {
            Assert.Equal("a1", Text((await Store.GetAsync("k/a", Ct))!.Value));
            Assert.Null(await Store.GetAsync("k/new", Ct));
            Assert.DoesNotContain("k/new", await Store.ListKeysAsync("k/", Ct));
        }
        else
        {
            // Documented for Redis: no rollback, every operation but the failing one applied, and listed as stored.
            Assert.Equal("a2", Text((await Store.GetAsync("k/a", Ct))!.Value));
            Assert.Equal("n", Text((await Store.GetAsync("k/new", Ct))!.Value));
            Assert.Contains("k/new", await Store.ListKeysAsync("k/", Ct));
        }
    }

    [Fact]
    public async Task TryCreate_Absent_CreatesAndIsListed()
    {
        Assert.True(await Store.TryCreateAsync("k/new", Bytes("1"), Ct));

        Assert.Equal("1", Text((await Store.GetAsync("k/new", Ct))!.Value));
        Assert.Equal(["k/new"], await Store.ListKeysAsync("k/", Ct));
    }

    [Fact]
    public async Task TryCreate_Existing_ReturnsFalseAndKeepsTheValue()
    {
        await Store.SaveAsync("k/a", Bytes("first"), null, Ct);
        var etag = (await Store.GetAsync("k/a", Ct))!.ETag;

        Assert.False(await Store.TryCreateAsync("k/a", Bytes("second"), Ct));

        var item = (await Store.GetAsync("k/a", Ct))!;
        Assert.Equal("first", Text(item.Value));
        Assert.Equal(etag, item.ETag);
    }

    [Fact]
    public async Task TryCreate_AKeyATransactionCreated_ReturnsFalseAndKeepsTheValue()
    {
        // Redis flags a key for first-write only when a first-write call created it; a transaction (or an outside
        // tool) writes without the flag, and a first-write call on such a key would overwrite it.
        await Store.TransactAsync([StateOperation.Upsert("k/a", Bytes("first"))], Ct);

        Assert.False(await Store.TryCreateAsync("k/a", Bytes("second"), Ct));

        Assert.Equal("first", Text((await Store.GetAsync("k/a", Ct))!.Value));
    }

    [Fact]
    public async Task TryCreate_ThenPlainAndETagWrites_StillWork()
    {
        // A created key must stay writable both ways (Redis flags first-write keys and refuses plain writes to them).
        Assert.True(await Store.TryCreateAsync("k/a", Bytes("1"), Ct));
        await Store.SaveAsync("k/a", Bytes("2"), null, Ct);
        var etag = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.SaveAsync("k/a", Bytes("3"), etag, Ct);

        Assert.Equal("3", Text((await Store.GetAsync("k/a", Ct))!.Value));
        Assert.False(await Store.TryCreateAsync("k/a", Bytes("4"), Ct));
    }

    [Fact]
    public async Task TryCreate_Concurrently_ExactlyOneWins()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => Store.TryCreateAsync("k/race", Bytes($"v{i}"), Ct))));

        var winner = Assert.Single(results.Select((created, i) => (created, i)).Where(r => r.created));
        Assert.Equal($"v{winner.i}", Text((await Store.GetAsync("k/race", Ct))!.Value));
        Assert.Equal(["k/race"], await Store.ListKeysAsync("k/", Ct));
    }

    [Fact]
    public async Task ConcurrentUpdates_OfAnAbsentKey_LoseNoUpdate()
    {
        // Several writers meeting a key that does not exist yet (two routers' first record of a day): every one counts.
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() =>
            Store.UpdateJsonAsync<Counter>("k/fresh", c => new Counter((c?.Value ?? 0) + 1), maxAttempts: 1000, cancellationToken: Ct))));

        Assert.Equal(6, (await Store.GetJsonAsync<Counter>("k/fresh", Ct))!.Value.Value);
    }

    [Fact]
    public async Task Transact_OneKeyMoreThanOnce_TheLastOperationDecides_AndAnETagOfTheCallersStillGuardsIt()
    {
        // A data sync's page of changes names a row as often as it changed: on daprd the second upsert of an existing key
        // went with the ETag read before the first (Redis refused it; PostgreSQL rolled the whole transaction back).
        await Store.SaveAsync("k/a", Bytes("a1"), null, Ct);
        await Store.SaveAsync("k/b", Bytes("b1"), null, Ct);
        var b = (await Store.GetAsync("k/b", Ct))!.ETag;

        await Store.TransactAsync(
            [
                StateOperation.Upsert("k/a", Bytes("a2")), StateOperation.Upsert("k/a", Bytes("a3")),
                StateOperation.Delete("k/b", b), StateOperation.Upsert("k/b", Bytes("b2")),
                StateOperation.Upsert("k/c", Bytes("c1")), StateOperation.Delete("k/c"),
            ],
            Ct);

        Assert.Equal("a3", Text((await Store.GetAsync("k/a", Ct))!.Value));
        Assert.Equal("b2", Text((await Store.GetAsync("k/b", Ct))!.Value));
        Assert.Null(await Store.GetAsync("k/c", Ct));
        Assert.Equal(["k/a", "k/b"], await Store.ListKeysAsync("k/", Ct));

        var error = await Assert.ThrowsAsync<StateConflictException>(() => Store.TransactAsync(
            [StateOperation.Upsert("k/b", Bytes("b3"), b), StateOperation.Upsert("k/b", Bytes("b4"))],
            Ct));
        Assert.Equal("k/b", error.Key);
        Assert.Equal("b2", Text((await Store.GetAsync("k/b", Ct))!.Value));
    }

    [Fact]
    public async Task Transact_Empty_Throws()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.TransactAsync([], Ct));
    }

    [Fact]
    public async Task ListKeys_NestedCollections_ReturnsEveryKeyBelowPrefixInOrdinalOrder()
    {
        foreach (var key in new[] { "metrics/orders/b/2026-01-02", "metrics/orders/a/2026-01-01", "metrics/pay/a/2026-01-01", "routing/orders", "metricsx/other" })
        {
            await Store.SaveAsync(key, Bytes("1"), null, Ct);
        }

        Assert.Equal(["metrics/orders/a/2026-01-01", "metrics/orders/b/2026-01-02", "metrics/pay/a/2026-01-01"], await Store.ListKeysAsync("metrics/", Ct));
        Assert.Equal(["metrics/orders/a/2026-01-01", "metrics/orders/b/2026-01-02"], await Store.ListKeysAsync("metrics/orders/", Ct));
        Assert.Equal(["routing/orders"], await Store.ListKeysAsync("routing/", Ct));
        Assert.Empty(await Store.ListKeysAsync("nothing/", Ct));
    }

    [Fact]
    public async Task ListKeys_AfterDelete_OmitsDeletedKey()
    {
        await Store.SaveAsync("routing/a", Bytes("1"), null, Ct);
        await Store.SaveAsync("routing/b", Bytes("1"), null, Ct);
        await Store.DeleteAsync("routing/a", null, Ct);

        Assert.Equal(["routing/b"], await Store.ListKeysAsync("routing/", Ct));
    }

    [Fact]
    public async Task ConcurrentReadModifyWrite_WithETags_LosesNoUpdate()
    {
        await Store.SaveJsonAsync("k/counter", new Counter(0), cancellationToken: Ct);

        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await Store.UpdateJsonAsync<Counter>("k/counter", c => new Counter(c!.Value + 1), maxAttempts: 1000, cancellationToken: Ct);
            }
        })));

        Assert.Equal(60, (await Store.GetJsonAsync<Counter>("k/counter", Ct))!.Value.Value);
    }

    [Fact]
    public async Task ConcurrentCreates_InOneCollection_AreAllListed()
    {
        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() => Store.SaveAsync($"fresh/c/{i:D2}", Bytes("1"), null, Ct))));

        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"fresh/c/{i:D2}"), await Store.ListKeysAsync("fresh/", Ct));
    }

    [Theory]
    [InlineData("")]
    [InlineData("$index/x")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("a/b||c")] // daprd refuses it: its key prefix separator
    public async Task Save_InvalidKey_ThrowsArgumentException(string key)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.SaveAsync(key, Bytes("1"), null, Ct));
    }

    [Theory]
    [InlineData("routing")]
    [InlineData("$index/")]
    [InlineData("/")]
    public async Task ListKeys_InvalidPrefix_ThrowsArgumentException(string prefix)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.ListKeysAsync(prefix, Ct));
    }

    /// <summary>The test's cancellation token.</summary>
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>UTF-8 bytes of <paramref name="text"/>.</summary>
    protected static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>UTF-8 text of <paramref name="bytes"/>.</summary>
    protected static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    private static ValueTask Dispose(IDisposable disposable)
    {
        disposable.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Counter(int Value);
}
