using System.Collections.Concurrent;
using System.Text.Json;
using Dapr;
using Dapr.Client;
using Grpc.Core;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Dapr.State;

/// <summary>
/// <see cref="IStateStore"/> over a Dapr state store component, correct on components without rollback (Redis) as
/// well as on transactional ones (PostgreSQL, SQL Server). Not Cosmos DB: its component runs a transaction in the
/// partition named by the request's <c>partitionKey</c> metadata (<c>""</c> without it) while a single read or write
/// uses the key as its partition, so keys this adapter writes in a transaction could not be read back.
/// </summary>
/// <remarks>
/// <para><b>Listing.</b> Dapr's state API cannot list keys, so the adapter keeps a directory index per collection
/// (<c>a/b/</c> → <c>$index/a/b/</c>) naming its keys and sub-collections. The index changes only when a key is
/// created or deleted, never on an update, so writers updating keys of one collection do not contend. It does not
/// rely on a multi-key transaction being atomic: a key being created or deleted is first marked <i>pending</i> in
/// its index, then written, then settled (listed, or removed). A pending entry is listed only if its key exists,
/// and one left pending by a crash is settled by the next listing that finds it older than
/// <see cref="PendingGrace"/>: the index is repaired on read. Index documents are created with first-write
/// concurrency and never deleted.</para>
/// <para><b>ETags.</b> A stale ETag surfaces as gRPC <c>Aborted</c> (daprd wraps the component's ETag error only
/// when an ETag was sent); a first-write on an existing key may come back as any error (Redis answers
/// <c>Internal</c>), so every failed first-write is disambiguated by reading the key. Redis accepts a write with
/// an ETag on a missing key, so such writes check that the key exists first (a narrow race remains: a delete
/// between the check and the write is undone by the write).</para>
/// <para><b>What depends on the component.</b> <see cref="TransactAsync"/> is all-or-nothing only where the
/// component is (PostgreSQL v2, SQL Server); on Redis every operation but the failing one is applied
/// (the index is still settled from what the keys hold afterwards). Redis restarts a key's version at 1 after a
/// delete, so an ETag read before a delete can match the re-created key. A key upserted by one process while
/// another deletes it may be missing from listings until it is written again.</para>
/// </remarks>
/// <param name="dapr">The sidecar's client.</param>
/// <param name="time">The clock pending index entries are dated by.</param>
/// <param name="storeName">The state store component.</param>
/// <param name="listed">
/// False for keys that are only ever read by name (the change feed's log, one key per change): they are written without
/// an index, which would otherwise be one document growing with every key, rewritten twice per new key and refused by
/// daprd past its 4 MiB request limit. <see cref="ListKeysAsync"/> is then refused.
/// </param>
public sealed class DaprStateStore(DaprClient dapr, TimeProvider time, string storeName = DaprComponents.StateStore, bool listed = true) : IStateStore
{
    /// <summary>How long an index entry may stay pending before a listing settles it from what the store holds.</summary>
    public static readonly TimeSpan PendingGrace = TimeSpan.FromMinutes(1);

    private const string IndexPrefix = "$index/";
    private const int MaxIndexAttempts = 32;
    private const int MaxWriteAttempts = 32;
    private static readonly StateOptions FirstWrite = new() { Concurrency = ConcurrencyMode.FirstWrite };
    /// <summary>
    /// Collections remembered as listed in their parent's index at most. Time-partitioned collections (an hour of outcome
    /// slots per endpoint) are new every hour, and a process that remembered each would grow without end; past this the
    /// memory starts over, and a collection met again costs one index read per level.
    /// </summary>
    internal const int MaxRegistered = 256;

    private readonly ConcurrentDictionary<string, bool> _registered = new(StringComparer.Ordinal);

    /// <summary>Collections remembered as registered now.</summary>
    internal int Registered => _registered.Count;

    /// <inheritdoc />
    public async Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return await ReadAsync(key, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        if (etag is not null)
        {
            // Redis would accept an ETag for a missing key (and resurrect a deleted one): refuse it as a conflict.
            if (await ReadAsync(key, cancellationToken).ConfigureAwait(false) is null)
            {
                throw new StateConflictException(key);
            }

            if (!await Call(() => dapr.TrySaveByteStateAsync(storeName, key, value, etag, cancellationToken: cancellationToken), key).ConfigureAwait(false))
            {
                throw new StateConflictException(key);
            }

            return;
        }

        // Last write wins, built from guarded writes: keys are created with first-write (so TryCreateAsync can rely
        // on it), and Redis then refuses unguarded writes to them, so an existing key is written with its ETag.
        var marked = false;
        for (var attempt = 1; attempt <= MaxWriteAttempts; attempt++)
        {
            var current = await ReadAsync(key, cancellationToken).ConfigureAwait(false);
            if (current is null)
            {
                marked = marked || await MarkAsync(key, pendingOnlyIfListed: false, cancellationToken).ConfigureAwait(false);
                if (await TryFirstWriteAsync(key, value, cancellationToken).ConfigureAwait(false))
                {
                    await SettleAsync(key, exists: true, cancellationToken).ConfigureAwait(false);
                    return;
                }

                continue;
            }

            if (await Call(() => dapr.TrySaveByteStateAsync(storeName, key, value, current.ETag, cancellationToken: cancellationToken), key).ConfigureAwait(false))
            {
                if (marked)
                {
                    await SettleAsync(key, exists: true, cancellationToken).ConfigureAwait(false);
                }

                return;
            }
        }

        throw new StateStoreException($"Dapr state store '{storeName}': gave up writing '{key}' after {MaxWriteAttempts} attempts: it kept changing under concurrent writers.");
    }

    /// <inheritdoc />
    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);

        // Redis honours first-write only on keys a first-write call created: one a transaction, the outbox or an outside
        // tool wrote would be overwritten. Keys this adapter creates are flagged, so two creators still race safely.
        if (await ReadAsync(key, cancellationToken).ConfigureAwait(false) is not null)
        {
            return false;
        }

        await MarkAsync(key, pendingOnlyIfListed: false, cancellationToken).ConfigureAwait(false);
        var created = await TryFirstWriteAsync(key, value, cancellationToken).ConfigureAwait(false);
        await SettleAsync(key, exists: true, cancellationToken).ConfigureAwait(false);
        return created;
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        await MarkAsync(key, pendingOnlyIfListed: true, cancellationToken).ConfigureAwait(false);
        if (etag is not null)
        {
            var deleted = await ReadAsync(key, cancellationToken).ConfigureAwait(false) is not null
                && await Call(() => dapr.TryDeleteStateAsync(storeName, key, etag, cancellationToken: cancellationToken), key).ConfigureAwait(false);
            if (!deleted)
            {
                await SettleFromStoreAsync([key], cancellationToken).ConfigureAwait(false);
                throw new StateConflictException(key);
            }
        }
        else
        {
            await Call(() => dapr.DeleteStateAsync(storeName, key, cancellationToken: cancellationToken), key).ConfigureAwait(false);
        }

        await SettleAsync(key, exists: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count == 0)
        {
            throw new ArgumentException("A transaction needs at least one operation.", nameof(operations));
        }

        foreach (var operation in operations)
        {
            ArgumentNullException.ThrowIfNull(operation, nameof(operations));
            StateKeys.Validate(operation.Key, nameof(operations));
        }

        operations = OnePerKey(operations);
        foreach (var operation in operations.Where(o => o.ETag is not null))
        {
            if (await ReadAsync(operation.Key, cancellationToken).ConfigureAwait(false) is null)
            {
                throw new StateConflictException(operation.Key);
            }
        }

        var keys = operations.Select(o => o.Key).Distinct(StringComparer.Ordinal).ToArray();
        foreach (var operation in operations)
        {
            await MarkAsync(operation.Key, pendingOnlyIfListed: operation is DeleteOperation, cancellationToken).ConfigureAwait(false);
        }

        // An upsert without an ETag goes with the key's current one: Redis refuses unguarded writes to keys created
        // with first-write. A key changed meanwhile then fails the transaction (a store error, not a conflict).
        var current = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var upsert in operations.OfType<UpsertOperation>().Where(u => u.ETag is null))
        {
            if (await ReadAsync(upsert.Key, cancellationToken).ConfigureAwait(false) is { } item)
            {
                current[upsert.Key] = item.ETag;
            }
        }

        var requests = operations.Select(operation => operation switch
        {
            UpsertOperation upsert => new StateTransactionRequest(upsert.Key, upsert.Value.ToArray(), StateOperationType.Upsert, upsert.ETag ?? current.GetValueOrDefault(upsert.Key)),
            DeleteOperation delete => new StateTransactionRequest(delete.Key, null, StateOperationType.Delete, delete.ETag),
            _ => throw new ArgumentException($"Unknown state operation {operation.GetType().Name}.", nameof(operations)),
        }).ToArray();
        try
        {
            await dapr.ExecuteStateTransactionAsync(storeName, requests, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (DaprException ex)
        {
            // Whatever the component applied (all, none, or on Redis the operations before the failing one), the
            // index follows the keys. Then: a caller's ETag that no longer matches is a conflict, anything else a failure.
            await SettleFromStoreAsync(keys, cancellationToken).ConfigureAwait(false);
            foreach (var operation in operations.Where(o => o.ETag is not null))
            {
                if ((await ReadAsync(operation.Key, cancellationToken).ConfigureAwait(false))?.ETag != operation.ETag)
                {
                    throw new StateConflictException(operation.Key, ex);
                }
            }

            throw new StateStoreException($"Dapr state store '{storeName}' failed a transaction on '{operations[0].Key}': {Describe(ex)}", ex);
        }

        // The last operation on a key decides whether it exists.
        foreach (var key in keys)
        {
            await SettleAsync(key, exists: operations.Last(o => o.Key == key) is UpsertOperation, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One operation per key where the later ones on it carry no ETag of the caller's (a data sync's page names a row as
    /// often as it changed). Sent as they are, the second goes with the ETag the key had before the first changed it (an
    /// unguarded upsert is sent with the key's current ETag, below), which daprd's component refuses (Redis) or for which
    /// it rolls the whole transaction back (PostgreSQL), every time. The last operation decides the key; the first's ETag,
    /// if the caller gave one, still guards it. Later operations with ETags of their own are sent as they are.
    /// </summary>
    private static IReadOnlyList<StateOperation> OnePerKey(IReadOnlyList<StateOperation> operations)
    {
        var firstETag = new Dictionary<string, string?>(StringComparer.Ordinal);
        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        var merged = new HashSet<string>(StringComparer.Ordinal);
        var kept = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < operations.Count; i++)
        {
            var key = operations[i].Key;
            if (!firstETag.TryAdd(key, operations[i].ETag))
            {
                (operations[i].ETag is null ? merged : kept).Add(key);
            }

            last[key] = i;
        }

        merged.ExceptWith(kept);
        if (merged.Count == 0)
        {
            return operations;
        }

        return operations
            .Where((operation, i) => !merged.Contains(operation.Key) || last[operation.Key] == i)
            .Select(operation => merged.Contains(operation.Key) ? operation with { ETag = firstETag[operation.Key] } : operation)
            .ToArray();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
    {
        StateKeys.ValidatePrefix(prefix);
        if (!listed)
        {
            throw new InvalidOperationException($"This Dapr state store adapter keeps no listing index, so it cannot list '{prefix}'.");
        }

        var keys = new List<string>();
        var pending = new Stack<string>();
        pending.Push(prefix);
        var now = time.GetUtcNow();
        while (pending.TryPop(out var collection))
        {
            var (index, _) = await ReadIndexAsync(collection, cancellationToken).ConfigureAwait(false);
            var stale = new List<string>();
            foreach (var (name, pendingSince) in index.Entries)
            {
                if (name.EndsWith('/'))
                {
                    pending.Push(collection + name);
                    continue;
                }

                var key = collection + name;
                if (pendingSince is null)
                {
                    keys.Add(key);
                    continue;
                }

                // Pending: a create or delete in progress, or one a crash interrupted. Listed only if the key exists.
                if (await ReadAsync(key, cancellationToken).ConfigureAwait(false) is not null)
                {
                    keys.Add(key);
                }

                if (now - pendingSince.Value > PendingGrace)
                {
                    stale.Add(key);
                }
            }

            if (stale.Count > 0)
            {
                await SettleFromStoreAsync(stale, cancellationToken).ConfigureAwait(false);
            }
        }

        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    /// <summary>
    /// Writes <paramref name="key"/> with first-write concurrency; false when it exists. Redis answers an existing key
    /// with a plain error (Internal), PostgreSQL with "no item was updated": the key itself says which it was.
    /// </summary>
    private async Task<bool> TryFirstWriteAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
    {
        try
        {
            await dapr.SaveByteStateAsync(storeName, key, value, FirstWrite, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DaprException ex)
        {
            if (await ReadAsync(key, cancellationToken).ConfigureAwait(false) is null)
            {
                await SettleAsync(key, exists: false, cancellationToken).ConfigureAwait(false);
                throw new StateStoreException($"Dapr state store '{storeName}' could not create '{key}': {Describe(ex)}", ex);
            }

            return false;
        }
    }

    private static string CollectionOf(string key) => key[..(key.LastIndexOf('/') + 1)];

    private static string Describe(DaprException ex) =>
        ex.InnerException is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : ex.Message;

    /// <summary>
    /// Makes <paramref name="key"/> pending in its index unless it is listed already (for a write) or not listed
    /// at all (for a delete, <paramref name="pendingOnlyIfListed"/>). Returns whether the index was changed.
    /// </summary>
    private async Task<bool> MarkAsync(string key, bool pendingOnlyIfListed, CancellationToken cancellationToken)
    {
        if (!listed)
        {
            return false;
        }

        var collection = CollectionOf(key);
        var name = key[collection.Length..];
        var since = time.GetUtcNow();
        var changed = await UpdateIndexAsync(
            collection,
            entries =>
            {
                var listed = entries.TryGetValue(name, out var pendingSince);
                if (pendingOnlyIfListed ? !listed : listed && pendingSince is null)
                {
                    return false;
                }

                entries[name] = since;
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        if (changed)
        {
            await RegisterAsync(collection, cancellationToken).ConfigureAwait(false);
        }

        return changed;
    }

    /// <summary>Settles <paramref name="key"/> in its index: listed when it exists, removed otherwise.</summary>
    private Task SettleAsync(string key, bool exists, CancellationToken cancellationToken)
    {
        if (!listed)
        {
            return Task.CompletedTask;
        }

        var collection = CollectionOf(key);
        var name = key[collection.Length..];
        return UpdateIndexAsync(
            collection,
            entries =>
            {
                if (exists)
                {
                    if (entries.TryGetValue(name, out var pendingSince) && pendingSince is null)
                    {
                        return false;
                    }

                    entries[name] = null;
                    return true;
                }

                return entries.Remove(name);
            },
            cancellationToken);
    }

    /// <summary>Settles each key from what the store holds now.</summary>
    private async Task SettleFromStoreAsync(IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        foreach (var key in keys)
        {
            var exists = await ReadAsync(key, cancellationToken).ConfigureAwait(false) is not null;
            await SettleAsync(key, exists, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Lists <paramref name="collection"/> in its parent's index, and so on up (collections are never removed, so this is cached).</summary>
    private async Task RegisterAsync(string collection, CancellationToken cancellationToken)
    {
        while (!_registered.ContainsKey(collection))
        {
            if (_registered.Count >= MaxRegistered)
            {
                _registered.Clear();
            }

            var cut = collection.LastIndexOf('/', collection.Length - 2);
            if (cut < 0)
            {
                _registered[collection] = true; // a top-level collection: listing starts at its own index
                return;
            }

            var parent = collection[..(cut + 1)];
            var name = collection[parent.Length..];
            await UpdateIndexAsync(parent, entries => entries.TryAdd(name, null), cancellationToken).ConfigureAwait(false);
            _registered[collection] = true;
            collection = parent;
        }
    }

    /// <summary>
    /// Read-modify-write of an index with optimistic concurrency (ETag, or first-write when it does not exist yet).
    /// Any failed write is followed by a fresh read, so a concurrent writer costs a retry and an outage an exception.
    /// </summary>
    private async Task<bool> UpdateIndexAsync(string collection, Func<SortedDictionary<string, DateTimeOffset?>, bool> change, CancellationToken cancellationToken)
    {
        var key = IndexPrefix + collection;
        DaprException? last = null;
        for (var attempt = 1; attempt <= MaxIndexAttempts; attempt++)
        {
            var (index, etag) = await ReadIndexAsync(collection, cancellationToken).ConfigureAwait(false);
            if (!change(index.Entries))
            {
                return false;
            }

            var bytes = ShadowingJson.Serialize(index);
            try
            {
                if (etag is null)
                {
                    await dapr.SaveByteStateAsync(storeName, key, bytes, FirstWrite, cancellationToken: cancellationToken).ConfigureAwait(false);
                    return true;
                }

                if (await dapr.TrySaveByteStateAsync(storeName, key, bytes, etag, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    return true;
                }
            }
            catch (DaprException ex)
            {
                last = ex;
            }
        }

        throw new StateStoreException($"Dapr state store '{storeName}': gave up updating the index of '{collection}' after {MaxIndexAttempts} attempts{(last is null ? ": it kept changing under concurrent writers" : $": {Describe(last)}")}.", last);
    }

    private async Task<(CollectionIndex Index, string? ETag)> ReadIndexAsync(string collection, CancellationToken cancellationToken)
    {
        var item = await ReadAsync(IndexPrefix + collection, cancellationToken).ConfigureAwait(false);
        if (item is null)
        {
            return (new CollectionIndex(new SortedDictionary<string, DateTimeOffset?>(StringComparer.Ordinal)), null);
        }

        // A store failure, like any other read that fails: callers (the router's table poll) mark themselves stale on it,
        // where a JsonException escaped them and every poll failed without a word in /healthz.
        try
        {
            var entries = ShadowingJson.Deserialize<CollectionIndex>(item.Value.Span).Entries ?? throw new JsonException("no entries");
            return (new CollectionIndex(new SortedDictionary<string, DateTimeOffset?>(entries, StringComparer.Ordinal)), item.ETag);
        }
        catch (JsonException ex)
        {
            throw new StateStoreException($"Dapr state store '{storeName}': the index of '{collection}' ({IndexPrefix}{collection}) cannot be read: {ex.Message}", ex);
        }
    }

    private async Task<StateItem?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        var (value, etag) = await Call(() => dapr.GetByteStateAndETagAsync(storeName, key, cancellationToken: cancellationToken), key).ConfigureAwait(false);

        // Dapr answers a missing key with empty data and no ETag.
        return value.Length == 0 && string.IsNullOrEmpty(etag) ? null : new StateItem(key, value, etag);
    }

    private async Task Call(Func<Task> call, string key)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (DaprException ex)
        {
            throw new StateStoreException($"Dapr state store '{storeName}' failed on '{key}': {Describe(ex)}", ex);
        }
    }

    private async Task<T> Call<T>(Func<Task<T>> call, string key)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (DaprException ex)
        {
            throw new StateStoreException($"Dapr state store '{storeName}' failed on '{key}': {Describe(ex)}", ex);
        }
    }

    /// <summary>An index document: entry name → null when listed, or the time it became pending.</summary>
    private sealed record CollectionIndex(SortedDictionary<string, DateTimeOffset?> Entries);
}
