using Dapr.Workflow;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Makes the service's mirror policy cover the shadow, and moves the shadow to WarmingUp, where the router starts sending
/// it copies. A policy that was off (or absent) is turned on for this shadow only, at the request's share; one that was
/// on keeps its targets (the shadow is added to an explicit list) and the larger share. The policy as it was before SEP
/// first changed it is kept at <c>sep/mirror-before/{service}</c> with the share SEP set, and put back when the service's
/// last workflow-run shadow is drained or retired (<see cref="RetireShadowActivity"/>): what SEP changed goes back, what an
/// operator changed meanwhile stays.
/// </summary>
public sealed class EnableMirroringActivity(RoutingTableStore tables, IStateStore store, TimeProvider time) : WorkflowActivity<MirrorStep, bool>
{
    /// <summary>Where the policy as it was before SEP is kept.</summary>
    public static string BeforeKey(string service) => $"sep/mirror-before/{service}";

    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, MirrorStep input)
    {
        ArgumentNullException.ThrowIfNull(input);

        // Moved first: a late copy that finds the shadow retired must not put it back on the policy (nobody would take it off).
        await StepMoves.MoveOrThrowAsync(tables, input.Service, input.ShadowId, [ShadowState.Provisioning, ShadowState.Syncing], ShadowState.WarmingUp, time.GetUtcNow(), "turning mirroring on").ConfigureAwait(false);
        var before = (await tables.GetAsync(input.Service).ConfigureAwait(false))?.Value.Mirror;
        await store.TryCreateJsonAsync(BeforeKey(input.Service), new MirrorBefore(before)).ConfigureAwait(false);
        if (Cover(before, input.ShadowId, input.Percent).Percent is var percent && percent != before?.Percent)
        {
            // Recorded before the table is written (a rerun records it again), and only when SEP moves the share: a share
            // an operator raised meanwhile, which a later shadow's cover leaves as it is, must not read as SEP's.
            // The larger of two covers at once (a changed MirrorPercent between two workflows): SEP's share is the larger.
            await store.UpdateJsonAsync<MirrorBefore>(BeforeKey(input.Service), kept => (kept ?? new MirrorBefore(before)) with { SepPercent = Math.Max(kept?.SepPercent ?? 0, percent) }).ConfigureAwait(false);
        }

        await tables.UpdateAsync(input.Service, table => table! with { Mirror = Cover(table.Mirror, input.ShadowId, input.Percent) }).ConfigureAwait(false);
        return true;
    }

    /// <summary>The policy with <paramref name="shadowId"/> covered at <paramref name="percent"/> or more.</summary>
    public static MirrorPolicy Cover(MirrorPolicy? policy, string shadowId, double percent)
    {
        if (policy is not { Enabled: true })
        {
            // Off: on for this shadow only, so shadows someone keeps unmirrored stay that way.
            return (policy ?? new MirrorPolicy()) with { Enabled = true, Percent = percent, Targets = [shadowId] };
        }

        return policy with
        {
            Percent = Math.Max(policy.Percent, percent),

            // An empty target list already means every shadow in warm-up, validation or PreWarmed.
            Targets = policy.Targets.Count == 0 || policy.Targets.Contains(shadowId) ? policy.Targets : [.. policy.Targets, shadowId],
        };
    }
}

/// <summary>A service's mirror policy before SEP changed it (null: it had none).</summary>
public sealed record MirrorBefore(MirrorPolicy? Policy = null)
{
    /// <summary>
    /// The share SEP last set; a policy whose share differs from it when SEP puts the policy back was changed by an
    /// operator, and keeps its share. Null when SEP has not changed the share, or the policy to put back was given by
    /// hand (<c>routes apply</c>): the policy's own share goes back then.
    /// </summary>
    public double? SepPercent { get; init; }
}
