using Dapr.Workflow;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Stops the shadow and marks it Retired (through Failed, with an alert, when a failure retires it). The entry stays in
/// the routing table for <see cref="ShadowLifecycleOptions.KeepRetired"/> so operators see how it ended.
/// </summary>
public sealed class RetireShadowActivity(IShadowProvisioner provisioner, RoutingTableStore tables, IStateStore store, IEventBus bus, TimeProvider time) : WorkflowActivity<RetireStep, bool>
{
    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, RetireStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var wasRetired = false;
        try
        {
            if (input.Failure is not null)
            {
                wasRetired = await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.Failed, time.GetUtcNow()).ConfigureAwait(false) == ShadowState.Retired;
            }

            if (!wasRetired)
            {
                wasRetired = await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.Retired, time.GetUtcNow()).ConfigureAwait(false) == ShadowState.Retired;
            }

            await UntargetAsync(tables, input.Service, input.ShadowId).ConfigureAwait(false);
            await AmplifyMirroringActivity.RestoreAsync(tables, store, input.Service).ConfigureAwait(false);
        }
        catch (KeyNotFoundException)
        {
            // It never reached the table (provisioning failed): there is only the process to stop.
        }
        catch (InvalidShadowTransitionException ex) when (ex.From == ShadowState.Retired)
        {
            wasRetired = true; // a previous run of this activity got here
        }

        await provisioner.RetireAsync(input.Service, input.ShadowId).ConfigureAwait(false);
        if (input.Failure is not null && !wasRetired)
        {
            await bus.PublishAsync(
                Topics.Alerts,
                new Alert
                {
                    Kind = AlertKind.ShadowFailed,
                    Service = input.Service,
                    Endpoint = input.ShadowId,
                    Reasons = [input.Failure],
                    Status = StateKeys.Routing(input.Service),
                    At = time.GetUtcNow(),
                }).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// Takes the shadow off an explicit mirror target list (nothing to do when the list is empty: it means every shadow in
    /// a mirrored state). A list left empty turns mirroring off, since it named no other shadow.
    /// </summary>
    internal static async Task UntargetAsync(RoutingTableStore tables, string service, string shadowId)
    {
        var table = (await tables.GetAsync(service).ConfigureAwait(false))?.Value;
        if (table?.Mirror is { } mirror && mirror.Targets.Contains(shadowId))
        {
            await tables.UpdateAsync(service, t =>
                {
                    var targets = t!.Mirror!.Targets.Where(id => id != shadowId).ToArray();
                    return t with { Mirror = t.Mirror with { Targets = targets, Enabled = t.Mirror.Enabled && targets.Length > 0 } };
                }).ConfigureAwait(false);
        }
    }
}
