using System.Globalization;
using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Forecasting.Planning;

/// <summary>
/// Stores and publishes shadow requests idempotently per service and window: a request overlapping an open
/// one of the same service is merged into it (the later end, the larger count); nothing is written or
/// published when the merge changes nothing, so running the PAE again on the same forecast emits nothing new.
/// A new window is created only if absent, and each creation moves a per-service count under its ETag, so two
/// submissions at once whose windows overlap create one request even when they start in different minutes. Fresher forecasts may also end a
/// window sooner (<see cref="ShortenAsync"/>).
/// </summary>
public sealed class ShadowRequestStore(IStateStore store, IEventBus bus)
{
    private const int MaxAttempts = 10;
    private const string ShortenedMark = "; shortened at ";

    /// <summary>Submits a request; returns what is stored and whether it was published (new or changed).</summary>
    public async Task<(ShadowRequest Stored, bool Published)> SubmitAsync(ShadowRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                // Read before the listing: a request created after it moves the count, which CreatedAsync then sees.
                var creations = await store.GetJsonAsync<CreationCount>(StateKeys.ShadowRequestCreations(request.Service), cancellationToken).ConfigureAwait(false);
                if (await OverlappingAsync(request, exceptKey: null, cancellationToken).ConfigureAwait(false) is { } existing)
                {
                    return await MergeAsync(existing, request, cancellationToken).ConfigureAwait(false);
                }

                if (await store.TryCreateJsonAsync(KeyOf(request), request, cancellationToken).ConfigureAwait(false))
                {
                    return await CreatedAsync(request, creations, cancellationToken).ConfigureAwait(false);
                }

                // Created by someone else since the listing: merge into theirs. Not into one released by hand (its key is this
                // start's minute): closed, it would take the request in and run nothing; a later run asks from a later step.
                if (await store.GetJsonAsync<ShadowRequest>(KeyOf(request), cancellationToken).ConfigureAwait(false) is { } created)
                {
                    return await ReleasedByHandAsync(created.Value.Id, cancellationToken).ConfigureAwait(false)
                        ? (created.Value, false)
                        : await MergeAsync(created, request, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (StateConflictException) when (attempt < MaxAttempts)
            {
                // Changed by someone else between our read and write: read again.
            }

            if (attempt >= MaxAttempts)
            {
                throw new StateConflictException(KeyOf(request));
            }
        }
    }

    /// <summary>Every stored request of <paramref name="service"/>, in no particular order.</summary>
    public async Task<IReadOnlyList<ShadowRequest>> ListAsync(string service, CancellationToken cancellationToken = default)
    {
        var stored = new List<ShadowRequest>();
        foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequests(service), cancellationToken).ConfigureAwait(false))
        {
            if ((await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false))?.Value is { } request)
            {
                stored.Add(request);
            }
        }

        return stored;
    }

    /// <summary>
    /// Ends the service's open requests (window end after <paramref name="now"/>) at the earlier end
    /// <paramref name="shortenedEnd"/> gives (null keeps a request's end), writing with the ETag and publishing each, so
    /// the intake moves the running workflow's end too. Returns the requests shortened.
    /// </summary>
    public async Task<IReadOnlyList<ShadowRequest>> ShortenAsync(string service, Func<ShadowRequest, DateTimeOffset?> shortenedEnd, string reason, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shortenedEnd);
        var shortened = new List<ShadowRequest>();
        foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequests(service), cancellationToken).ConfigureAwait(false))
        {
            for (var attempt = 1; ; attempt++)
            {
                if (await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false) is not { } entry
                    || entry.Value.WindowEnd <= now
                    || shortenedEnd(entry.Value) is not { } end
                    || end >= entry.Value.WindowEnd)
                {
                    break;
                }

                var first = entry.Value.Reason.IndexOf(ShortenedMark, StringComparison.Ordinal); // one note, the latest: not one per run
                var was = first < 0 ? entry.Value.Reason : entry.Value.Reason[..first];
                var request = entry.Value with { WindowEnd = end, Reason = string.Create(CultureInfo.InvariantCulture, $"{was}{ShortenedMark}{now:u} to end at {end:u}: {reason}"), UpdatedAt = now };
                try
                {
                    await store.SaveJsonAsync(key, request, entry.ETag, cancellationToken).ConfigureAwait(false);
                }
                catch (StateConflictException) when (attempt < MaxAttempts)
                {
                    continue; // merged or shortened by another run meanwhile: decide again on what it wrote
                }

                await bus.PublishAsync(Topics.ShadowRequests, request, cancellationToken).ConfigureAwait(false);
                shortened.Add(request);
                break;
            }
        }

        return shortened;
    }

    /// <summary>The state key of a request.</summary>
    public static string KeyOf(ShadowRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return StateKeys.ShadowRequestsPrefix + request.Id;
    }

    /// <summary>
    /// Our new request is stored, not yet published. Two submissions whose windows overlap but start in different
    /// minutes have different keys, so neither create-if-absent nor the listing stops both from creating. Every creation
    /// therefore also moves the service's count under its ETag: one of two racing creations fails that write, finds the
    /// other's request (written before the count), withdraws its own and merges into it.
    /// </summary>
    private async Task<(ShadowRequest Stored, bool Published)> CreatedAsync(ShadowRequest request, StateEntry<CreationCount>? creations, CancellationToken cancellationToken)
    {
        var key = KeyOf(request);
        var ours = await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false) ?? throw new StateConflictException(key);
        for (var attempt = 1; ; attempt++)
        {
            if (await TryCountAsync(request.Service, creations, cancellationToken).ConfigureAwait(false))
            {
                await bus.PublishAsync(Topics.ShadowRequests, request, cancellationToken).ConfigureAwait(false);
                return (request, true);
            }

            if (await OverlappingAsync(request, exceptKey: key, cancellationToken).ConfigureAwait(false) is { } theirs)
            {
                try
                {
                    await store.DeleteAsync(key, ours.ETag, cancellationToken).ConfigureAwait(false);
                }
                catch (StateConflictException)
                {
                    // A third submission merged into ours meanwhile and published it: ours is live now, keep it.
                    var live = await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false);
                    return (live?.Value ?? request, false);
                }

                return await MergeAsync(theirs, request, cancellationToken).ConfigureAwait(false);
            }

            if (attempt >= MaxAttempts)
            {
                throw new StateConflictException(StateKeys.ShadowRequestCreations(request.Service));
            }

            // The other creation is elsewhere in time: count ours after it.
            creations = await store.GetJsonAsync<CreationCount>(StateKeys.ShadowRequestCreations(request.Service), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> TryCountAsync(string service, StateEntry<CreationCount>? seen, CancellationToken cancellationToken)
    {
        var key = StateKeys.ShadowRequestCreations(service);
        if (seen is null)
        {
            return await store.TryCreateJsonAsync(key, new CreationCount(1), cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await store.SaveJsonAsync(key, new CreationCount(seen.Value.Count + 1), seen.ETag, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (StateConflictException)
        {
            return false;
        }
    }

    /// <summary>
    /// A stored request of the service whose window overlaps <paramref name="request"/>'s, other than
    /// <paramref name="exceptKey"/>: of several, one still open when it was asked for, then one that overlaps it rather than
    /// only touches it (ends where it starts, or starts where it ends), then the one starting first (a merge moves no start
    /// earlier). A window merged into a request that had ended would run again beside the open one it also overlaps,
    /// doubling the shadows there. A request whose workflow an operator released by hand is none: it is closed.
    /// </summary>
    private async Task<StateEntry<ShadowRequest>?> OverlappingAsync(ShadowRequest request, string? exceptKey, CancellationToken cancellationToken)
    {
        StateEntry<ShadowRequest>? best = null;
        foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequests(request.Service), cancellationToken).ConfigureAwait(false))
        {
            if (key != exceptKey
                && await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false) is { } existing
                && existing.Value.WindowEnd >= request.WindowStart
                && existing.Value.WindowStart <= request.WindowEnd
                && (best is null || Better(existing.Value, best.Value))
                && !await ReleasedByHandAsync(existing.Value.Id, cancellationToken).ConfigureAwait(false))
            {
                best = existing;
            }
        }

        return best;

        bool Overlaps(ShadowRequest r) => r.WindowEnd > request.WindowStart && r.WindowStart < request.WindowEnd;

        bool Open(ShadowRequest r) => r.WindowEnd > request.UpdatedAt;

        bool Better(ShadowRequest candidate, ShadowRequest than) =>
            Open(candidate) != Open(than) ? Open(candidate)
            : Overlaps(candidate) != Overlaps(than) ? Overlaps(candidate)
            : candidate.WindowStart < than.WindowStart;
    }

    /// <summary>
    /// Whether an operator released the workflow of request <paramref name="requestId"/> (its latest revision) by hand
    /// (<see cref="ShadowOverride.ReleasedAt"/>): the request is closed, so nothing merges into it and it covers no later request.
    /// </summary>
    public async Task<bool> ReleasedByHandAsync(string requestId, CancellationToken cancellationToken = default) =>
        (await store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(requestId), cancellationToken).ConfigureAwait(false))?.Value is { InstanceId: { } instance }
        && (await store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride(instance), cancellationToken).ConfigureAwait(false))?.Value is { ReleasedAt: not null };

    private async Task<(ShadowRequest Stored, bool Published)> MergeAsync(StateEntry<ShadowRequest> existing, ShadowRequest request, CancellationToken cancellationToken)
    {
        var current = existing.Value;
        var merged = current with
        {
            Count = Math.Max(current.Count, request.Count),
            WindowEnd = request.WindowEnd > current.WindowEnd ? request.WindowEnd : current.WindowEnd,
            Kinds = [.. current.Kinds.Union(request.Kinds)],
            RiskUntil = Later(request.RiskUntil, current.RiskUntil),
            ManualUntil = Later(ManualEnd(request), ManualEnd(current)),
        };
        if (merged.Count == current.Count && merged.WindowEnd == current.WindowEnd && merged.Kinds.Count == current.Kinds.Count && merged.RiskUntil == current.RiskUntil && merged.ManualUntil == current.ManualUntil)
        {
            return (current, false);
        }

        merged = merged with { Reason = request.Reason, UpdatedAt = request.UpdatedAt };
        await store.SaveJsonAsync(existing.Key, merged, existing.ETag, cancellationToken).ConfigureAwait(false);
        await bus.PublishAsync(Topics.ShadowRequests, merged, cancellationToken).ConfigureAwait(false);
        return (merged, true);

        static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a > b || b is null ? a ?? b : b;

        // An operator's request stored before ManualUntil existed asked for its whole window.
        static DateTimeOffset? ManualEnd(ShadowRequest r) => r.Kinds.Contains(ShadowRequestKind.Manual) ? r.ManualUntil ?? r.WindowEnd : r.ManualUntil;
    }
}

/// <summary>How many requests a service has had created: moved under its ETag by each creation (see <c>CreatedAsync</c>).</summary>
internal sealed record CreationCount(long Count);
