using Dapr.Workflow;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Counts the shadow's mirrored answers (and failed ones) to copies sent since its warm-up began or its process last
/// started, whichever is later, from the stored outcomes (a pub/sub copy is sent its time shift after the original).
/// </summary>
public sealed class CollectWarmupStatsActivity(ShadowValidator validator, IShadowProvisioner provisioner, TimeProvider time) : WorkflowActivity<WarmupStep, WarmupStats>
{
    /// <inheritdoc />
    public override async Task<WarmupStats> RunAsync(WorkflowActivityContext context, WarmupStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var since = await SinceAsync(provisioner, input).ConfigureAwait(false);
        var outcomes = await validator.SentAsync(input.Service, input.ShadowId, since, time.GetUtcNow(), settled: true).ConfigureAwait(false);

        // Counted up to the outcome delay ago (as validation judges), so the count's span starts as much later than
        // `since`: the workflow takes the pace over now − CountedSince, which would otherwise read it low and amplify a
        // service whose copies come fast enough.
        var delay = await validator.OutcomeDelayAsync(input.Service).ConfigureAwait(false);
        return new WarmupStats(outcomes.Count, outcomes.Count(o => o.Copy.Status >= 500 || o.Copy.Error is not null), since + delay);
    }

    /// <summary>When warm-up began, or when the shadow's current process started if that was later.</summary>
    internal static async Task<DateTimeOffset> SinceAsync(IShadowProvisioner provisioner, WarmupStep step)
    {
        var started = (await provisioner.FindAsync(step.Service, step.ShadowId).ConfigureAwait(false))?.StartedAt;
        return started > step.Since ? started.Value : step.Since;
    }
}
