using Dapr.Workflow;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Data;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Takes the shadow out of routing, stops it, deletes its copy of the data, and then marks it Retired (through Failed,
/// with an alert, when a failure retires it). The entry stays in the routing table for <see cref="ShadowLifecycleOptions.KeepRetired"/> so operators see how it ended.
/// </summary>
public sealed class RetireShadowActivity(IShadowProvisioner provisioner, RoutingTableStore tables, IStateStore store, IEventBus bus, ShadowDataService data, TimeProvider time) : WorkflowActivity<RetireStep, bool>
{
    /// <summary>Marks that the failure alert of a shadow was sent, so a rerun does not send it again.</summary>
    public static string AlertedKey(string service, string shadowId) => $"sep/alerted/{service}/{shadowId}";

    /// <summary>What <see cref="AlertedKey"/> holds: when the alert was sent.</summary>
    public sealed record AlertedMark(DateTimeOffset At);

    /// <inheritdoc />
    public override Task<bool> RunAsync(WorkflowActivityContext context, RetireStep input) => RetireAsync(input);

    /// <summary>The retirement, also run by the reconciler for shadows whose workflow ended without retiring them.</summary>
    public async Task<bool> RetireAsync(RetireStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var current = (await tables.GetAsync(input.Service).ConfigureAwait(false))?.Value.Shadows.FirstOrDefault(s => s.Id == input.ShadowId);

        // When it failed: a rerun finds it Failed since then. The alert's id (the webhook's Idempotency-Key) is a hash of
        // its JSON, so a second send after a crash must carry the same time for a receiver to know it for the same alert.
        var failedAt = current is { State: ShadowState.Failed, StateChangedAt: { } since } && input.Failure is not null ? since : time.GetUtcNow();
        if (current is not null && current.State != ShadowState.Retired)
        {
            // Out of routing first (Failed, or Draining when it was still routable); Retired only once everything below is
            // done: a retirement that fails midway leaves a shadow the reconciler retires again once its workflow has
            // ended, rather than a Retired entry whose process, data copy or alert nobody looks for again.
            var interim = input.Failure is not null ? ShadowState.Failed : ShadowLifecycle.IsRoutable(current.State) ? ShadowState.Draining : current.State;
            await tables.MoveShadowAsync(input.Service, input.ShadowId, interim, failedAt).ConfigureAwait(false);
        }

        // Every step below is safe to repeat, so a rerun after a partial first run finishes the job.
        if (current is not null)
        {
            await UntargetAsync(tables, store, input.Service, input.ShadowId).ConfigureAwait(false);
            await AmplifyMirroringActivity.RestoreAsync(tables, store, input.Service, retiring: input.ShadowId).ConfigureAwait(false); // marked Retired only at the end
        }

        await provisioner.RetireAsync(input.Service, input.ShadowId).ConfigureAwait(false);
        await store.DeleteAsync(ProvisionShadowActivity.ClaimKey(input.Service, input.ShadowId), etag: null).ConfigureAwait(false); // a provisioning that failed midway
        await data.DeleteAsync(input.Service, input.ShadowId).ConfigureAwait(false); // its copy of the data goes with it, recorded
        if (input.Failure is not null && await store.GetAsync(AlertedKey(input.Service, input.ShadowId)).ConfigureAwait(false) is null)
        {
            await new AlertOutbox(store, bus).PublishAsync(
                new Alert
                {
                    Kind = AlertKind.ShadowFailed,
                    Service = input.Service,
                    Endpoint = input.ShadowId,
                    Reasons = [input.Failure],
                    Status = StateKeys.Routing(input.Service),
                    At = failedAt,
                }).ConfigureAwait(false);

            // Marked after sending (or keeping it for the bus): a crash in between sends it twice (at least once), never not at all.
            await store.TryCreateJsonAsync(AlertedKey(input.Service, input.ShadowId), new AlertedMark(time.GetUtcNow())).ConfigureAwait(false);
        }

        if (current is not null && current.State != ShadowState.Retired)
        {
            await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.Retired, time.GetUtcNow()).ConfigureAwait(false);

            // Again, now that it is Retired: another shadow that left warm-up meanwhile found this one still in it.
            await AmplifyMirroringActivity.RestoreAsync(tables, store, input.Service).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// Takes the shadow off an explicit mirror target list (a list left empty turns mirroring off: it named no other
    /// shadow). When no workflow-run shadow of the service is left being prepared or held, the policy as it was before SEP
    /// changed it is put back (minus targets that no longer exist), with the transport and pacing warm-up amplification
    /// changed. Whether others are in use is decided inside the guarded update, against the table it writes.
    /// </summary>
    internal static async Task UntargetAsync(RoutingTableStore tables, IStateStore store, string service, string shadowId)
    {
        var table = (await tables.GetAsync(service).ConfigureAwait(false))?.Value;
        var before = (await store.GetJsonAsync<MirrorBefore>(EnableMirroringActivity.BeforeKey(service)).ConfigureAwait(false))?.Value;
        if (table is null || (before is null && table.Mirror?.Targets.Contains(shadowId) != true))
        {
            return; // nothing to put back or take off: no write (each one reloads every router)
        }

        var boost = (await store.GetJsonAsync<MirrorBoost>(AmplifyMirroringActivity.Key(service)).ConfigureAwait(false))?.Value;
        var restored = false;
        await tables.UpdateAsync(service, t =>
        {
            restored = false;
            var othersInUse = t!.Shadows.Any(s => s.Id != shadowId && s.Owner is not null && s.State is not (ShadowState.Draining or ShadowState.Retired or ShadowState.Failed));
            if (t.Mirror is not { } now)
            {
                restored = !othersInUse && before is not null;
                return t;
            }

            if (!othersInUse && before is not null)
            {
                // Only what SEP changed (on/off, share, targets, transport, pacing) goes back; what an operator changed
                // meanwhile stays: a policy turned off stays off, a share other than the one SEP set stays, and so do targets
                // named by hand (SEP's are the workflow-run shadows; a list SEP replaced comes back when none were named).
                restored = true;
                var original = before.Policy;
                var named = now.Targets.Where(id => id != shadowId && t.Shadows.Any(s => s.Id == id && s.Owner is null)).ToArray();
                var targets = original is not { Enabled: true } && named.Length == 0
                    ? (original?.Targets ?? []).Where(id => id != shadowId && t.Shadows.Any(s => s.Id == id)).ToArray()
                    : named;
                var enabled = now.Enabled && original is { Enabled: true } && (original.Targets.Count == 0 || targets.Length > 0);
                var percent = before.SepPercent is { } sepPercent && now.Percent != sepPercent ? now.Percent : original?.Percent ?? now.Percent;
                var policy = now with { Enabled = enabled, Percent = percent, Targets = targets };
                return t with { Mirror = boost is null ? policy : policy with { Transport = boost.Transport, TargetRatePerSecond = boost.TargetRatePerSecond, Amplify = boost.Amplify } };
            }

            if (!now.Targets.Contains(shadowId))
            {
                return t;
            }

            var remaining = now.Targets.Where(id => id != shadowId).ToArray();
            return t with { Mirror = now with { Targets = remaining, Enabled = now.Enabled && remaining.Length > 0 } };
        }).ConfigureAwait(false);
        if (restored)
        {
            await store.DeleteAsync(AmplifyMirroringActivity.Key(service), etag: null).ConfigureAwait(false);
            await store.DeleteAsync(EnableMirroringActivity.BeforeKey(service), etag: null).ConfigureAwait(false);
        }
    }
}
