using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// PVU: moves the shadow to Validating and judges it against production over its warm-up (the verdict is stored and a
/// Fail alerts). An Inconclusive sends it back to WarmingUp, where it keeps receiving copies.
/// </summary>
/// <remarks>
/// The window starts when warm-up began or when the shadow's process last started, whichever is later: copies sent while
/// a host restart had it down say nothing about the process now running.
/// The workflow calls it only while the shadow warms up; a copy of a run whose result the workflow already took (the
/// runtime ran it again) finds it PreWarmed or further on, and changes nothing: moved to Validating it would leave
/// routing, and no workflow would bring it back.
/// </remarks>
public sealed class ValidateShadowActivity(ShadowValidator validator, RoutingTableStore tables, IShadowProvisioner provisioner, TimeProvider time) : WorkflowActivity<WarmupStep, ShadowCheck>
{
    private static readonly ShadowState[] WarmingUpStates = [ShadowState.WarmingUp, ShadowState.Validating];

    /// <inheritdoc />
    public override async Task<ShadowCheck> RunAsync(WorkflowActivityContext context, WarmupStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var found = await tables.MoveShadowFromAsync(input.Service, input.ShadowId, WarmingUpStates, ShadowState.Validating, time.GetUtcNow()).ConfigureAwait(false);
        if (!WarmingUpStates.Contains(found))
        {
            return new ShadowCheck(Verdict.Inconclusive, [$"not validated: the shadow is {found}, no longer warming up (a late rerun)"], time.GetUtcNow());
        }

        var window = time.GetUtcNow() - await CollectWarmupStatsActivity.SinceAsync(provisioner, input).ConfigureAwait(false);
        var verdict = await validator.ValidateAsync(input.Service, input.ShadowId, window > TimeSpan.Zero ? window : TimeSpan.FromSeconds(1), settled: true).ConfigureAwait(false);
        if (verdict.Verdict == Verdict.Inconclusive)
        {
            // Only from Validating: a late rerun that judged while the workflow made the shadow PreWarmed leaves it there.
            await tables.MoveShadowFromAsync(input.Service, input.ShadowId, [ShadowState.Validating], ShadowState.WarmingUp, time.GetUtcNow()).ConfigureAwait(false);
        }

        return new ShadowCheck(verdict.Verdict, verdict.Reasons.Take(4).ToArray(), verdict.JudgedAt);
    }
}
