using Shadowing.Core.Messaging;
using Shadowing.Core.State;

namespace Shadowing.Forecasting.Planning;

/// <summary>
/// Stores and publishes shadow requests idempotently per service and window: a request overlapping an open
/// one of the same service is merged into it (the later end, the larger count); nothing is written or
/// published when the merge changes nothing, so running the PAE again on the same forecast emits nothing new.
/// </summary>
public sealed class ShadowRequestStore(IStateStore store, IEventBus bus)
{
    /// <summary>Submits a request; returns what is stored and whether it was published (new or changed).</summary>
    public async Task<(ShadowRequest Stored, bool Published)> SubmitAsync(ShadowRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequests(request.Service), cancellationToken).ConfigureAwait(false))
        {
            if (await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false) is not { } existing
                || existing.Value.WindowEnd < request.WindowStart
                || existing.Value.WindowStart > request.WindowEnd)
            {
                continue;
            }

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
            await store.SaveJsonAsync(key, merged, existing.ETag, cancellationToken).ConfigureAwait(false);
            await bus.PublishAsync(Topics.ShadowRequests, merged, cancellationToken).ConfigureAwait(false);
            return (merged, true);
        }

        await store.SaveJsonAsync(KeyOf(request), request, etag: null, cancellationToken).ConfigureAwait(false);
        await bus.PublishAsync(Topics.ShadowRequests, request, cancellationToken).ConfigureAwait(false);
        return (request, true);
    }

    /// <summary>The state key of a request.</summary>
    public static string KeyOf(ShadowRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return StateKeys.ShadowRequestsPrefix + request.Id;
    }
}
