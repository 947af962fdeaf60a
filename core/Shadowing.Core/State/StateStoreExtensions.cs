using Shadowing.Core.Serialization;

namespace Shadowing.Core.State;

/// <summary>Typed JSON access to an <see cref="IStateStore"/>, using <see cref="ShadowingJson"/>.</summary>
public static class StateStoreExtensions
{
    /// <summary>Reads and deserializes a key; <c>null</c> when it does not exist.</summary>
    public static async Task<StateEntry<T>?> GetJsonAsync<T>(this IStateStore store, string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var item = await store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        return item is null ? null : new StateEntry<T>(key, ShadowingJson.Deserialize<T>(item.Value.Span), item.ETag);
    }

    /// <summary>Serializes and writes a key, checking <paramref name="etag"/> when it is not null.</summary>
    public static Task SaveJsonAsync<T>(this IStateStore store, string key, T value, string? etag = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.SaveAsync(key, ShadowingJson.Serialize(value), etag, cancellationToken);
    }

    /// <summary>Serializes and creates a key unless it exists; returns whether it was created.</summary>
    public static Task<bool> TryCreateJsonAsync<T>(this IStateStore store, string key, T value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.TryCreateAsync(key, ShadowingJson.Serialize(value), cancellationToken);
    }

    /// <summary>
    /// Read-modify-write with optimistic concurrency: reads the key, applies <paramref name="change"/> and
    /// saves with the ETag read (or creates the key if absent), retrying on conflict up to
    /// <paramref name="maxAttempts"/> times, so concurrent writers, creators included, never lose an update.
    /// </summary>
    /// <returns>The value written.</returns>
    public static async Task<T> UpdateJsonAsync<T>(
        this IStateStore store,
        string key,
        Func<T?, T> change,
        int maxAttempts = 10,
        CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(change);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);
        for (var attempt = 1; ; attempt++)
        {
            var current = await store.GetJsonAsync<T>(key, cancellationToken).ConfigureAwait(false);
            var next = change(current?.Value);
            if (current is null)
            {
                // Create only if still absent: a concurrent creator's value must be merged into, not overwritten.
                if (await store.TryCreateJsonAsync(key, next, cancellationToken).ConfigureAwait(false))
                {
                    return next;
                }

                if (attempt >= maxAttempts)
                {
                    throw new StateConflictException(key);
                }

                continue;
            }

            try
            {
                await store.SaveJsonAsync(key, next, current.ETag, cancellationToken).ConfigureAwait(false);
                return next;
            }
            catch (StateConflictException) when (attempt < maxAttempts)
            {
            }
        }
    }
}

/// <summary>A typed value read from the store with its ETag.</summary>
public sealed record StateEntry<T>(string Key, T Value, string ETag);
