using Dapr.Workflow;
using Microsoft.Extensions.Options;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Starts the shadow (or finds it running: the provisioner is idempotent) and adds it to the service's routing table in
/// Provisioning, owned by the workflow instance.
/// </summary>
public sealed class ProvisionShadowActivity(IShadowProvisioner provisioner, RoutingTableStore tables, IOptions<ShadowLifecycleOptions> options, TimeProvider time)
    : WorkflowActivity<ShadowStep, ProvisionedShadow>
{
    /// <inheritdoc />
    public override async Task<ProvisionedShadow> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var provisioned = await provisioner.ProvisionAsync(new ProvisionSpec(input.Service, input.ShadowId, input.Resources)).ConfigureAwait(false);
        var now = time.GetUtcNow();
        await tables.AddShadowAsync(
            input.Service,
            new ShadowEndpoint { Id = input.ShadowId, Address = provisioned.Address, Owner = input.Owner, State = ShadowLifecycle.Initial, StateChangedAt = now },
            pruneRetiredBefore: now - options.Value.KeepRetired).ConfigureAwait(false);
        return provisioned;
    }
}
