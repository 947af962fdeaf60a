namespace Shadowing.Core.State;

/// <summary>
/// Key/value state with Dapr's semantics, implemented by the embedded SQLite store and by the Dapr adapter.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Every write produces a new opaque ETag.</item>
/// <item>A write or delete that passes an ETag succeeds only if it matches the stored one; otherwise it throws
/// <see cref="StateConflictException"/>. Passing an ETag for a key that does not exist is a conflict too.
/// Passing <c>null</c> means last-write-wins.</item>
/// <item><see cref="TryCreateAsync"/> creates a key only if it is absent.</item>
/// <item><see cref="TransactAsync"/> applies all operations or none where the backing store can (SQLite,
/// PostgreSQL); Dapr's Redis store has no rollback, so there a failed transaction may leave earlier operations
/// applied (the Dapr adapter documents this).</item>
/// <item>Keys are path-like (<c>routing/orders</c>); <see cref="ListKeysAsync"/> lists every key below a
/// collection prefix ending in '/'. Keys starting with '$' are reserved for adapters.</item>
/// </list>
/// Failures other than conflicts throw <see cref="StateStoreException"/>.
/// </remarks>
public interface IStateStore
{
    /// <summary>Reads a key; <c>null</c> when it does not exist.</summary>
    Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Writes a key, checking <paramref name="etag"/> when it is not null.</summary>
    Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates a key only if it does not exist (Dapr's first-write concurrency); returns false, changing nothing,
    /// when it exists. Use it wherever several writers may create the same key, so the first one's value is kept
    /// for the others to merge into instead of being overwritten.
    /// </summary>
    Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <summary>Deletes a key, checking <paramref name="etag"/> when it is not null. Deleting a missing key without an ETag is a no-op.</summary>
    Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default);

    /// <summary>Applies every operation atomically, or none of them.</summary>
    Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default);

    /// <summary>Lists the keys below <paramref name="prefix"/> (which must end with '/'), in ordinal order.</summary>
    Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default);
}

/// <summary>A stored value with its ETag.</summary>
public sealed record StateItem(string Key, ReadOnlyMemory<byte> Value, string ETag);

/// <summary>One operation of a state transaction.</summary>
public abstract record StateOperation(string Key, string? ETag)
{
    /// <summary>Creates or replaces <paramref name="key"/>.</summary>
    public static StateOperation Upsert(string key, ReadOnlyMemory<byte> value, string? etag = null) => new UpsertOperation(key, value, etag);

    /// <summary>Deletes <paramref name="key"/>.</summary>
    public static StateOperation Delete(string key, string? etag = null) => new DeleteOperation(key, etag);
}

/// <summary>Creates or replaces a key.</summary>
public sealed record UpsertOperation(string Key, ReadOnlyMemory<byte> Value, string? ETag) : StateOperation(Key, ETag);

/// <summary>Deletes a key.</summary>
public sealed record DeleteOperation(string Key, string? ETag) : StateOperation(Key, ETag);

/// <summary>The store could not complete an operation for a reason other than an ETag conflict.</summary>
public class StateStoreException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StateStoreException(string message, Exception? innerException = null) : base(message, innerException)
    {
    }
}

/// <summary>An ETag did not match: someone else changed the key first. Re-read and retry.</summary>
public sealed class StateConflictException : StateStoreException
{
    /// <summary>Creates the exception for <paramref name="key"/>.</summary>
    public StateConflictException(string key, Exception? innerException = null)
        : base($"The ETag for state key '{key}' did not match: it was changed by someone else. Re-read it and retry.", innerException)
    {
        Key = key;
    }

    /// <summary>The key whose ETag did not match (for a transaction, the first one known).</summary>
    public string Key { get; }
}
