using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>Moves a validated shadow to PreWarmed: from now on the router may fail over to it.</summary>
public sealed class MarkPreWarmedActivity(RoutingTableStore tables, TimeProvider time) : WorkflowActivity<ShadowStep, bool>
{
    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.PreWarmed, time.GetUtcNow()).ConfigureAwait(false);
        return true;
    }
}
