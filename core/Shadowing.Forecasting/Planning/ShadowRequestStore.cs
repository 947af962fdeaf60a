using System.Globalization;
using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Forecasting.Planning;

/// <summary>
/// Stores and publishes shadow requests idempotently per service and window: a request overlapping an open
/// one of the same service is merged into it (the later end, the larger count); nothing is written or
/// published when the merge changes nothing, so running the PAE again on the same forecast emits nothing new.
/// A new window is created only if absent, so two runs at once create it once. Fresher forecasts may also end a
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
                foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequests(request.Service), cancellationToken).ConfigureAwait(false))
                {
                    if (await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false) is { } existing
                        && existing.Value.WindowEnd >= request.WindowStart
                        && existing.Value.WindowStart <= request.WindowEnd)
                    {
                        return await MergeAsync(existing, request, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (await store.TryCreateJsonAsync(KeyOf(request), request, cancellationToken).ConfigureAwait(false))
                {
                    await bus.PublishAsync(Topics.ShadowRequests, request, cancellationToken).ConfigureAwait(false);
                    return (request, true);
                }

                // Created by someone else since the listing: merge into theirs.
                if (await store.GetJsonAsync<ShadowRequest>(KeyOf(request), cancellationToken).ConfigureAwait(false) is { } created)
                {
                    return await MergeAsync(created, request, cancellationToken).ConfigureAwait(false);
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

    private async Task<(ShadowRequest Stored, bool Published)> MergeAsync(StateEntry<ShadowRequest> existing, ShadowRequest request, CancellationToken cancellationToken)
    {
        var current = existing.Value;
        var merged = current with
        {
            Count = Math.Max(current.Count, request.Count),
            WindowEnd = request.WindowEnd > current.WindowEnd ? request.WindowEnd : current.WindowEnd,
            Kinds = [.. current.Kinds.Union(request.Kinds)],
        };
        if (merged.Count == current.Count && merged.WindowEnd == current.WindowEnd && merged.Kinds.Count == current.Kinds.Count)
        {
            return (current, false);
        }

        merged = merged with { Reason = request.Reason, UpdatedAt = request.UpdatedAt };
        await store.SaveJsonAsync(existing.Key, merged, existing.ETag, cancellationToken).ConfigureAwait(false);
        await bus.PublishAsync(Topics.ShadowRequests, merged, cancellationToken).ConfigureAwait(false);
        return (merged, true);
    }
}
