using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Workflows.Data;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Moves the shadow to Syncing and gives it its data as its service's settings ask (<see cref="ShadowDataService"/>):
/// none, or a differential or time-shifted copy of production's data, after which the shadow is <c>dataIsolated</c>.
/// Idempotent: a rerun resumes the copy from its watermark; one that finds the shadow past Syncing copies nothing.
/// </summary>
public sealed class SyncShadowDataActivity(RoutingTableStore tables, ShadowDataService data, TimeProvider time) : WorkflowActivity<ShadowStep, string>
{
    /// <inheritdoc />
    public override async Task<string> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await StepMoves.MoveOrThrowAsync(tables, input.Service, input.ShadowId, [ShadowState.Provisioning], ShadowState.Syncing, time.GetUtcNow(), "the data sync").ConfigureAwait(false);
        return (await data.SyncAsync(input.Service, input.ShadowId).ConfigureAwait(false)).Note;
    }
}
