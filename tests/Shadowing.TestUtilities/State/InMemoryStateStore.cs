using System.Globalization;
using Shadowing.Core.State;

namespace Shadowing.TestUtilities.State;

/// <summary>
/// A dictionary with Dapr's state semantics (ETags, conflicts, atomic transactions, prefix listing), for tests of
/// code that only needs some store. It passes the shared <see cref="StateStoreContractTests"/>.
/// </summary>
public sealed class InMemoryStateStore : IStateStore
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, (byte[] Value, long ETag)> _entries = new(StringComparer.Ordinal);
    private long _etag;

    /// <inheritdoc />
    public Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        lock (_lock)
        {
            return Task.FromResult(_entries.TryGetValue(key, out var e) ? new StateItem(key, e.Value, e.ETag.ToString(CultureInfo.InvariantCulture)) : null);
        }
    }

    /// <inheritdoc />
    public Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
        TransactAsync([StateOperation.Upsert(key, value, etag)], cancellationToken);

    /// <inheritdoc />
    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        lock (_lock)
        {
            return Task.FromResult(_entries.TryAdd(key, (value.ToArray(), ++_etag)));
        }
    }

    /// <inheritdoc />
    public Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default) =>
        TransactAsync([StateOperation.Delete(key, etag)], cancellationToken);

    /// <inheritdoc />
    public Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count == 0)
        {
            throw new ArgumentException("A transaction needs at least one operation.", nameof(operations));
        }

        foreach (var operation in operations)
        {
            StateKeys.Validate(operation.Key, nameof(operations));
        }

        lock (_lock)
        {
            foreach (var operation in operations.Where(o => o.ETag is not null))
            {
                if (!_entries.TryGetValue(operation.Key, out var e) || e.ETag.ToString(CultureInfo.InvariantCulture) != operation.ETag)
                {
                    throw new StateConflictException(operation.Key);
                }
            }

            foreach (var operation in operations)
            {
                if (operation is UpsertOperation upsert)
                {
                    _entries[upsert.Key] = (upsert.Value.ToArray(), ++_etag);
                }
                else
                {
                    _entries.Remove(operation.Key);
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
    {
        StateKeys.ValidatePrefix(prefix);
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<string>>([.. _entries.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))]);
        }
    }
}
