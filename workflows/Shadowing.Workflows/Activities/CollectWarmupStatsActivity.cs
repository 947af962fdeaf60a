using Dapr.Workflow;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>Counts the shadow's mirrored answers (and failed ones) since its warm-up began, from the stored outcomes.</summary>
public sealed class CollectWarmupStatsActivity(ShadowValidator validator, TimeProvider time) : WorkflowActivity<WarmupStep, WarmupStats>
{
    /// <inheritdoc />
    public override async Task<WarmupStats> RunAsync(WorkflowActivityContext context, WarmupStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var outcomes = await validator.OutcomesAsync(input.Service, input.ShadowId, input.Since, time.GetUtcNow()).ConfigureAwait(false);
        return new WarmupStats(outcomes.Count, outcomes.Count(o => o.Copy.Status >= 500 || o.Copy.Error is not null));
    }
}
