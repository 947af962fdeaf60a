using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>Moves a validated shadow to PreWarmed: from now on the router may fail over to it.</summary>
/// <remarks>The last shadow of a service to leave warm-up puts an amplified mirror policy back as it was.</remarks>
public sealed class MarkPreWarmedActivity(RoutingTableStore tables, IStateStore store, TimeProvider time) : WorkflowActivity<ShadowStep, bool>
{
    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.PreWarmed, time.GetUtcNow()).ConfigureAwait(false);
        await AmplifyMirroringActivity.RestoreAsync(tables, store, input.Service).ConfigureAwait(false);
        return true;
    }
}
