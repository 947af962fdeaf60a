using System.Collections.Concurrent;
using Dapr;
using Dapr.Client;
using Grpc.Core;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Dapr.State;

/// <summary>
/// <see cref="IStateStore"/> over a Dapr state store component.
/// </summary>
/// <remarks>
/// <para>Dapr's state API cannot list keys, so this adapter keeps a directory index: for each collection
/// (<c>a/b/</c>) a document <c>$index/a/b/</c> naming its keys and sub-collections. Every write and delete changes
/// the key and its collection's index in one Dapr transaction, the index guarded by its ETag, so the index is
/// exact even under concurrent writers; contention on one collection costs a retry. Index documents are created
/// with first-write concurrency (create-if-absent, as Dapr's own actor reminders do) and never deleted.</para>
/// <para>A stale ETag surfaces from Dapr as gRPC <c>Aborted</c> (single operations) or as a failed transaction
/// whose message says "etag mismatch"; both become <see cref="StateConflictException"/>.</para>
/// <para>The component must be transactional (Redis, PostgreSQL, Cosmos DB, SQL Server …).</para>
/// </remarks>
public sealed class DaprStateStore(DaprClient dapr, string storeName = DaprComponents.StateStore) : IStateStore
{
    private const string IndexPrefix = "$index/";
    private const int MaxIndexAttempts = 16;
    private static readonly StateOptions CreateIfAbsent = new() { Concurrency = ConcurrencyMode.FirstWrite };
    private readonly ConcurrentDictionary<string, bool> _knownCollections = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public async Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        var (value, etag) = await Call(() => dapr.GetByteStateAndETagAsync(storeName, key, cancellationToken: cancellationToken), key).ConfigureAwait(false);

        // Dapr answers a missing key with empty data and no ETag.
        return value.Length == 0 && string.IsNullOrEmpty(etag) ? null : new StateItem(key, value, etag);
    }

    /// <inheritdoc />
    public Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return TransactAsync([StateOperation.Upsert(key, value, etag)], cancellationToken);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return TransactAsync([StateOperation.Delete(key, etag)], cancellationToken);
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

        var collections = operations.Select(o => CollectionOf(o.Key)).Distinct(StringComparer.Ordinal).ToArray();
        foreach (var collection in collections)
        {
            await EnsureCollectionAsync(collection, cancellationToken).ConfigureAwait(false);
        }

        for (var attempt = 1; ; attempt++)
        {
            var requests = new List<StateTransactionRequest>(operations.Count + collections.Length);
            foreach (var operation in operations)
            {
                requests.Add(operation switch
                {
                    UpsertOperation upsert => new StateTransactionRequest(upsert.Key, upsert.Value.ToArray(), StateOperationType.Upsert, upsert.ETag),
                    DeleteOperation delete => new StateTransactionRequest(delete.Key, null, StateOperationType.Delete, delete.ETag),
                    _ => throw new ArgumentException($"Unknown state operation {operation.GetType().Name}.", nameof(operations)),
                });
            }

            foreach (var collection in collections)
            {
                var (index, indexETag) = await ReadIndexAsync(collection, cancellationToken).ConfigureAwait(false);
                foreach (var operation in operations.Where(o => CollectionOf(o.Key) == collection))
                {
                    var name = operation.Key[collection.Length..];
                    if (operation is UpsertOperation)
                    {
                        index.Add(name);
                    }
                    else
                    {
                        index.Remove(name);
                    }
                }

                requests.Add(new StateTransactionRequest(IndexPrefix + collection, ShadowingJson.Serialize(new CollectionIndex(index.Order(StringComparer.Ordinal).ToArray())), StateOperationType.Upsert, indexETag));
            }

            try
            {
                await dapr.ExecuteStateTransactionAsync(storeName, requests, cancellationToken: cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (DaprException ex) when (IsETagMismatch(ex))
            {
                // Either a caller's ETag is stale (a real conflict) or another writer changed an index (retry).
                foreach (var operation in operations.Where(o => o.ETag is not null))
                {
                    var current = await GetAsync(operation.Key, cancellationToken).ConfigureAwait(false);
                    if (current?.ETag != operation.ETag)
                    {
                        throw new StateConflictException(operation.Key, ex);
                    }
                }

                if (attempt >= MaxIndexAttempts)
                {
                    throw new StateStoreException($"Gave up after {attempt} attempts: the collection index of '{operations[0].Key}' kept changing under concurrent writers.", ex);
                }
            }
            catch (DaprException ex)
            {
                throw new StateStoreException($"Dapr state store '{storeName}' failed a transaction on '{operations[0].Key}': {Describe(ex)}", ex);
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
    {
        StateKeys.ValidatePrefix(prefix);
        var keys = new List<string>();
        var pending = new Stack<string>();
        pending.Push(prefix);
        while (pending.TryPop(out var collection))
        {
            var (entries, _) = await ReadIndexAsync(collection, cancellationToken).ConfigureAwait(false);
            foreach (var entry in entries)
            {
                if (entry.EndsWith('/'))
                {
                    pending.Push(collection + entry);
                }
                else
                {
                    keys.Add(collection + entry);
                }
            }
        }

        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    private static string CollectionOf(string key) => key[..(key.LastIndexOf('/') + 1)];

    private static bool IsETagMismatch(DaprException ex) =>
        ex.InnerException is RpcException rpc
        && (rpc.StatusCode == StatusCode.Aborted || rpc.Status.Detail.Contains("etag mismatch", StringComparison.OrdinalIgnoreCase));

    private static string Describe(DaprException ex) =>
        ex.InnerException is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : ex.Message;

    /// <summary>Makes sure the index of <paramref name="collection"/> exists and is listed in its parent's index.</summary>
    private async Task EnsureCollectionAsync(string collection, CancellationToken cancellationToken)
    {
        // Collections are never removed, so once known they stay known.
        if (collection.Length == 0 || _knownCollections.ContainsKey(collection))
        {
            return;
        }

        var parent = collection[..(collection.LastIndexOf('/', collection.Length - 2) + 1)];
        await EnsureCollectionAsync(parent, cancellationToken).ConfigureAwait(false);
        var indexKey = IndexPrefix + collection;
        try
        {
            await dapr.SaveByteStateAsync(storeName, indexKey, ShadowingJson.Serialize(new CollectionIndex([])), CreateIfAbsent, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (DaprException ex) when (IsETagMismatch(ex))
        {
            // Someone else created it first, which is all we wanted.
        }
        catch (DaprException ex)
        {
            throw new StateStoreException($"Dapr state store '{storeName}' could not create the index of '{collection}': {Describe(ex)}", ex);
        }

        if (parent.Length > 0)
        {
            var name = collection[parent.Length..];
            for (var attempt = 1; ; attempt++)
            {
                var (entries, etag) = await ReadIndexAsync(parent, cancellationToken).ConfigureAwait(false);
                if (entries.Contains(name))
                {
                    break;
                }

                entries.Add(name);
                var saved = await Call(
                    () => dapr.TrySaveByteStateAsync(storeName, IndexPrefix + parent, ShadowingJson.Serialize(new CollectionIndex(entries.Order(StringComparer.Ordinal).ToArray())), etag ?? string.Empty, cancellationToken: cancellationToken),
                    IndexPrefix + parent).ConfigureAwait(false);
                if (saved)
                {
                    break;
                }

                if (attempt >= MaxIndexAttempts)
                {
                    throw new StateStoreException($"Gave up registering collection '{collection}' after {attempt} attempts: its parent index kept changing.");
                }
            }
        }

        _knownCollections[collection] = true;
    }

    private async Task<(HashSet<string> Entries, string? ETag)> ReadIndexAsync(string collection, CancellationToken cancellationToken)
    {
        var key = IndexPrefix + collection;
        var (value, etag) = await Call(() => dapr.GetByteStateAndETagAsync(storeName, key, cancellationToken: cancellationToken), key).ConfigureAwait(false);
        if (value.Length == 0)
        {
            return (new HashSet<string>(StringComparer.Ordinal), string.IsNullOrEmpty(etag) ? null : etag);
        }

        var index = ShadowingJson.Deserialize<CollectionIndex>(value.Span);
        return (new HashSet<string>(index.Entries, StringComparer.Ordinal), etag);
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

    private sealed record CollectionIndex(IReadOnlyList<string> Entries);
}
