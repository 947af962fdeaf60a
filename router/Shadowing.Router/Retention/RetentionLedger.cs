using System.Collections.Concurrent;
using Shadowing.Core.State;

namespace Shadowing.Router.Retention;

/// <summary>The collections of one kind a service has in the store, at <c>retention/{kind}/{service}</c>.</summary>
internal sealed record RetainedCollections
{
    public required string Service { get; init; }

    public IReadOnlyList<RetainedCollection> Collections { get; init; } = [];
}

/// <summary>A collection (<see cref="Prefix"/> ends with '/') whose keys all hold data of times before <see cref="Ends"/>.</summary>
internal sealed record RetainedCollection(string Prefix, DateTimeOffset Ends);

/// <summary>
/// What a router's retention sweep deletes, for one kind of time-partitioned data (an hour of one endpoint's outcome
/// slots; a day of a service's metric records). A writer lists a collection here before it writes the first key of it,
/// so no key is in the store without its collection listed; the <see cref="RetentionSweeper"/> deletes the keys of each
/// collection that ended more than <see cref="Retention"/> ago, and only then the entry, so a sweep cut short is finished
/// by the next one. A writer writes nothing into a collection that started more than the retention ago
/// (<see cref="Writable"/>): a collection written to is at least its own length away from its sweep, and no key lands in
/// one being swept (where it would be listed nowhere).
/// </summary>
internal sealed class RetentionLedger(IStateStore store, TimeProvider time, string kind, TimeSpan retention)
{
    // Collections this writer listed, forgotten once past the retention (concurrent: a sweep may be called while another runs).
    private readonly ConcurrentDictionary<(string Service, RetainedCollection Collection), bool> _listed = new();

    /// <summary>Collections this writer remembers having listed.</summary>
    internal int Remembered => _listed.Count;

    /// <summary>The kind of data, as in <c>retention/{kind}/</c> and in the sweep's log lines.</summary>
    public string Kind => kind;

    /// <summary>How long after a collection ends it is deleted.</summary>
    public TimeSpan Retention => retention;

    /// <summary>Whether a collection that started at <paramref name="start"/> may still be written.</summary>
    public bool Writable(DateTimeOffset start) => start > time.GetUtcNow() - retention;

    /// <summary>Lists <paramref name="collection"/> for <paramref name="service"/> unless this writer did already.</summary>
    public async Task ListAsync(string service, RetainedCollection collection, CancellationToken cancellationToken)
    {
        if (_listed.ContainsKey((service, collection)))
        {
            return;
        }

        // Read first: every replica lists the same collections, and a write where it is listed already would only contend.
        var key = StateKeys.Retention(kind, service);
        if ((await store.GetJsonAsync<RetainedCollections>(key, cancellationToken).ConfigureAwait(false))?.Value.Collections.Contains(collection) != true)
        {
            await store.UpdateJsonAsync<RetainedCollections>(
                key,
                current => current is null ? new RetainedCollections { Service = service, Collections = [collection] }
                    : current.Collections.Contains(collection) ? current
                    : current with { Collections = [.. current.Collections, collection] },
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var oldest = time.GetUtcNow() - retention;
        foreach (var old in _listed.Keys.Where(l => l.Collection.Ends <= oldest))
        {
            _listed.TryRemove(old, out _);
        }

        _listed[(service, collection)] = true;
    }

    /// <summary>The ledger documents of this kind, one per service.</summary>
    public Task<IReadOnlyList<string>> KeysAsync(CancellationToken cancellationToken) =>
        store.ListKeysAsync($"{StateKeys.RetentionPrefix}{kind}/", cancellationToken);

    /// <summary>
    /// Deletes every key of the collections listed at <paramref name="key"/> that ended more than the retention ago, then
    /// their entries; returns the service, how many collections and how many keys.
    /// </summary>
    public async Task<(string Service, int Collections, int Keys)> SweepAsync(string key, CancellationToken cancellationToken)
    {
        if (await store.GetJsonAsync<RetainedCollections>(key, cancellationToken).ConfigureAwait(false) is not { } entry)
        {
            return (key, 0, 0);
        }

        var cutoff = time.GetUtcNow() - retention;
        var expired = entry.Value.Collections.Where(c => c.Ends <= cutoff).ToHashSet();
        if (expired.Count == 0)
        {
            return (entry.Value.Service, 0, 0);
        }

        var keys = 0;
        foreach (var collection in expired)
        {
            foreach (var stored in await store.ListKeysAsync(collection.Prefix, cancellationToken).ConfigureAwait(false))
            {
                await store.DeleteAsync(stored, etag: null, cancellationToken).ConfigureAwait(false);
                keys++;
            }
        }

        // Only now: a collection whose keys could not all be deleted stays listed for the next sweep.
        await store.UpdateJsonAsync<RetainedCollections>(
            key,
            current => (current ?? entry.Value) with { Collections = (current?.Collections ?? []).Where(c => !expired.Contains(c)).ToArray() },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return (entry.Value.Service, expired.Count, keys);
    }
}
