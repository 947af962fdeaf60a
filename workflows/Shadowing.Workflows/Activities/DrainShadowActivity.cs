using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>Moves the shadow to Draining (the router sends it nothing new) and takes it off the mirror policy's target list.</summary>
public sealed class DrainShadowActivity(RoutingTableStore tables, IStateStore store, TimeProvider time) : WorkflowActivity<ShadowStep, bool>
{
    private static readonly ShadowState[] Drainable = [ShadowState.WarmingUp, ShadowState.Validating, ShadowState.PreWarmed, ShadowState.Active];

    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        // A shadow already failed or retired stays so (its retirement follows); from Failed the shortest legal path to
        // Draining would restart it through Provisioning.
        try
        {
            await tables.MoveShadowFromAsync(input.Service, input.ShadowId, Drainable, ShadowState.Draining, time.GetUtcNow()).ConfigureAwait(false);
        }
        catch (KeyNotFoundException)
        {
            // Taken out of its table by hand (or the table deleted): nothing routes to it, so nothing to drain. Failing here
            // would fail the workflow at its window's end and retire its healthy shadows as failed, with alerts.
        }

        await RetireShadowActivity.UntargetAsync(tables, store, input.Service, input.ShadowId).ConfigureAwait(false);
        return true;
    }
}
