using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Takes the shadow out of service (back to WarmingUp, through Validating when it was PreWarmed or Active), restarts it
/// with the step's resources, and records its address.
/// </summary>
public sealed class RemediateShadowActivity(IShadowProvisioner provisioner, RoutingTableStore tables, TimeProvider time) : WorkflowActivity<ShadowStep, ProvisionedShadow>
{
    private static readonly ShadowState[] Remediable = [ShadowState.Validating, ShadowState.PreWarmed, ShadowState.Active];

    /// <inheritdoc />
    public override async Task<ProvisionedShadow> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);

        // Out of routing first, so no production request meets the restart; and never a shadow draining, failed or retired:
        // its process would be started again for nobody.
        await StepMoves.MoveOrThrowAsync(tables, input.Service, input.ShadowId, Remediable, ShadowState.WarmingUp, time.GetUtcNow(), "remediation").ConfigureAwait(false);
        var provisioned = await provisioner.ResizeAsync(new ProvisionSpec(input.Service, input.ShadowId, input.Resources)).ConfigureAwait(false);
        var current = (await tables.GetAsync(input.Service).ConfigureAwait(false))?.Value.Shadows.FirstOrDefault(s => s.Id == input.ShadowId);
        if (current is not null && current.Address != provisioned.Address)
        {
            await tables.AddShadowAsync(input.Service, current with { Address = provisioned.Address }, DateTimeOffset.MinValue).ConfigureAwait(false); // the address only, in one ETag-checked write
        }

        return provisioned;
    }
}
