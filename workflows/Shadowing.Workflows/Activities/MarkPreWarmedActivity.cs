using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Moves a validated shadow to PreWarmed: from now on the router may fail over to it. Returns when it became PreWarmed
/// in the routing table (the first run's time when the activity runs twice).
/// </summary>
/// <remarks>
/// The workflow takes that time as the shadow's ready time, not its own clock at the next turn, which is later:
/// continuous validation judges the shadow from the table's time on, and a verdict judged in between must count.
/// The last shadow of a service to leave warm-up puts an amplified mirror policy back as it was.
/// </remarks>
public sealed class MarkPreWarmedActivity(RoutingTableStore tables, IStateStore store, TimeProvider time) : WorkflowActivity<ShadowStep, DateTimeOffset>
{
    /// <inheritdoc />
    public override async Task<DateTimeOffset> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var now = time.GetUtcNow();
        // Active: a rerun after its first run made it ready and a failover promoted it before the retry.
        await StepMoves.MoveOrThrowAsync(tables, input.Service, input.ShadowId, [ShadowState.Validating], ShadowState.PreWarmed, now, "marking it ready", ShadowState.Active).ConfigureAwait(false);
        await AmplifyMirroringActivity.RestoreAsync(tables, store, input.Service).ConfigureAwait(false);
        var stored = (await tables.GetAsync(input.Service).ConfigureAwait(false))?.Value.Shadows.FirstOrDefault(s => s.Id == input.ShadowId);
        return stored is { State: ShadowState.PreWarmed, StateChangedAt: { } at } ? at : now;
    }
}
