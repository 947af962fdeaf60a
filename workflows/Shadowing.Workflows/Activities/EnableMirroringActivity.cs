using Dapr.Workflow;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Makes the service's mirror policy cover the shadow: turns mirroring on at the request's share at least (an existing,
/// larger share is kept), adds the shadow to an explicit target list, and moves the shadow to WarmingUp, where the
/// router starts sending it copies.
/// </summary>
public sealed class EnableMirroringActivity(RoutingTableStore tables, TimeProvider time) : WorkflowActivity<MirrorStep, bool>
{
    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, MirrorStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await tables.UpdateAsync(input.Service, table => table! with { Mirror = Cover(table.Mirror, input.ShadowId, input.Percent) }).ConfigureAwait(false);
        await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.WarmingUp, time.GetUtcNow()).ConfigureAwait(false);
        return true;
    }

    /// <summary>The policy with <paramref name="shadowId"/> covered at <paramref name="percent"/> or more.</summary>
    public static MirrorPolicy Cover(MirrorPolicy? policy, string shadowId, double percent)
    {
        var current = policy ?? new MirrorPolicy { Enabled = false };
        return current with
        {
            Enabled = true,
            Percent = !current.Enabled ? percent : Math.Max(current.Percent, percent),

            // An empty target list already means every shadow in warm-up, validation or PreWarmed.
            Targets = current.Targets.Count == 0 || current.Targets.Contains(shadowId) ? current.Targets : [.. current.Targets, shadowId],
        };
    }
}
