using Dapr.Workflow;
using Microsoft.Extensions.Options;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Starts the shadow (or finds it running: the provisioner is idempotent) and adds it to the service's routing table in
/// Provisioning, owned by the workflow instance.
/// </summary>
/// <remarks>
/// The entry needs the shadow's address, so it is added only once the provisioner returns, which on Container Apps
/// can take many minutes after the app is listed. Until then a claim (<see cref="ClaimKey"/>) names the owner, so the
/// reconciler's orphan sweep leaves a shadow being started alone for as long as its workflow runs.
/// </remarks>
public sealed class ProvisionShadowActivity(IShadowProvisioner provisioner, RoutingTableStore tables, IStateStore store, IOptions<ShadowLifecycleOptions> options, TimeProvider time)
    : WorkflowActivity<ShadowStep, ProvisionedShadow>
{
    /// <summary>Collection of the claims.</summary>
    public const string ClaimPrefix = "sep/provisioning/";

    /// <summary>The workflow instance starting shadow <paramref name="shadowId"/>, until the shadow is in its table.</summary>
    public static string ClaimKey(string service, string shadowId) => $"{ClaimPrefix}{service}/{shadowId}";

    /// <inheritdoc />
    public override async Task<ProvisionedShadow> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if ((await tables.GetAsync(input.Service).ConfigureAwait(false))?.Value.Shadows.FirstOrDefault(s => s.Id == input.ShadowId) is { State: ShadowState.Draining or ShadowState.Retired or ShadowState.Failed } gone)
        {
            // A late copy of this activity (it runs at least once) after the shadow was taken down: started again, its
            // process or app would run with nobody to retire it.
            await store.DeleteAsync(ClaimKey(input.Service, input.ShadowId), etag: null).ConfigureAwait(false);
            return new ProvisionedShadow { Service = input.Service, ShadowId = input.ShadowId, Address = gone.Address, Resources = input.Resources, StartedAt = gone.StateChangedAt ?? time.GetUtcNow() };
        }

        await store.SaveJsonAsync(ClaimKey(input.Service, input.ShadowId), input.Owner).ConfigureAwait(false);
        var provisioned = await provisioner.ProvisionAsync(new ProvisionSpec(input.Service, input.ShadowId, input.Resources)).ConfigureAwait(false);
        var now = time.GetUtcNow();
        await tables.AddShadowAsync(
            input.Service,
            new ShadowEndpoint { Id = input.ShadowId, Address = provisioned.Address, Owner = input.Owner, State = ShadowLifecycle.Initial, StateChangedAt = now },
            pruneRetiredBefore: now - (options.Value.KeepRetired > ShadowReconciler.RecordsGrace ? options.Value.KeepRetired : ShadowReconciler.RecordsGrace)).ConfigureAwait(false); // as the reconciler prunes
        await store.DeleteAsync(ClaimKey(input.Service, input.ShadowId), etag: null).ConfigureAwait(false);
        return provisioned;
    }
}
