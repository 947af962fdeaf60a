using Shadowing.Core.State;

namespace Shadowing.TestUtilities.State;

/// <summary>Wraps a store and fails every call while <see cref="Failing"/> is set, like a store that is down.</summary>
public sealed class FlakyStateStore(IStateStore inner) : IStateStore
{
    /// <summary>Whether calls fail.</summary>
    public bool Failing { get; set; }

    /// <summary>What a failing call throws. Default: a <see cref="StateStoreException"/>, the failure the port documents.</summary>
    public Func<string, Exception> Failure { get; set; } = message => new StateStoreException(message);

    /// <summary>Calls attempted while failing.</summary>
    public int FailedCalls { get; private set; }

    /// <inheritdoc />
    public Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default) => Guard(() => inner.GetAsync(key, cancellationToken));

    /// <inheritdoc />
    public Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) => Guard(() => inner.SaveAsync(key, value, etag, cancellationToken));

    /// <inheritdoc />
    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) => Guard(() => inner.TryCreateAsync(key, value, cancellationToken));

    /// <inheritdoc />
    public Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default) => Guard(() => inner.DeleteAsync(key, etag, cancellationToken));

    /// <inheritdoc />
    public Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) => Guard(() => inner.TransactAsync(operations, cancellationToken));

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default) => Guard(() => inner.ListKeysAsync(prefix, cancellationToken));

    private T Guard<T>(Func<T> call)
    {
        if (Failing)
        {
            FailedCalls++;
            throw Failure("store unavailable (injected by FlakyStateStore)");
        }

        return call();
    }
}
