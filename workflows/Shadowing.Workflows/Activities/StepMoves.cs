using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Where a lifecycle step may find its shadow. Activities run at least once, and a copy of a run whose result the
/// workflow already took can come late, after the shadow moved on. Moved by the shortest legal path, it would go back
/// through Failed and Provisioning: a retired shadow's process restarted, a promoted one made a standby, one remediating
/// made routable unvalidated. So each step moves its shadow only from the states its place in the lifecycle allows,
/// checked in the same ETag-checked write as the move.
/// </summary>
internal static class StepMoves
{
    /// <summary>
    /// Moves the shadow to <paramref name="to"/> from one of <paramref name="from"/> (already there, or in one of
    /// <paramref name="past"/>, states only reached through it: nothing to do), or throws naming where it is: the step must
    /// not act on it either.
    /// </summary>
    public static async Task MoveOrThrowAsync(RoutingTableStore tables, string service, string shadowId, IReadOnlyCollection<ShadowState> from, ShadowState to, DateTimeOffset now, string step, params ShadowState[] past)
    {
        var found = await tables.MoveShadowFromAsync(service, shadowId, from, to, now).ConfigureAwait(false);
        if (found != to && !from.Contains(found) && !past.Contains(found))
        {
            throw new InvalidOperationException(
                $"Shadow '{shadowId}' of '{service}' is {found}: {step} moves a shadow to {to} only from {string.Join(" or ", from)}, " +
                "so it was left as it is (a late copy of a step its workflow has moved past, or something else moved it).");
        }
    }
}
