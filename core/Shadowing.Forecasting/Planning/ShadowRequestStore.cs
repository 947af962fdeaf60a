using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Forecasting.Planning;

/// <summary>
/// Stores and publishes shadow requests idempotently per service and window: a request overlapping an open
/// one of the same service is merged into it (the later end, the larger count); nothing is written or
/// published when the merge changes nothing, so running the PAE again on the same forecast emits nothing new.
/// A new window is created only if absent, so two runs at once create it once.
/// </summary>
public sealed class ShadowRequestStore(IStateStore store, IEventBus bus)
{
    private const int MaxAttempts = 10;

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
