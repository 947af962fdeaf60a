using Shadowing.Core.State;

namespace Shadowing.TestUtilities.State;

/// <summary>A store that passes every call to <paramref name="inner"/>; tests override what they watch or disturb.</summary>
public abstract class DelegatingStateStore(IStateStore inner) : IStateStore
{
    public virtual Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public virtual Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) => inner.SaveAsync(key, value, etag, cancellationToken);

    public virtual Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) => inner.TryCreateAsync(key, value, cancellationToken);

    public virtual Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, etag, cancellationToken);

    public virtual Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default) => inner.TransactAsync(operations, cancellationToken);

    public virtual Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListKeysAsync(prefix, cancellationToken);
}
