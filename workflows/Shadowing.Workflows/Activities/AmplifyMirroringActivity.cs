using Dapr.Workflow;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>Input of AmplifyMirroring: the service and the copies per second per shadow its warm-up needs.</summary>
public sealed record AmplifyStep(string Service, string ShadowId, double TargetRatePerSecond);

/// <summary>
/// Warm-up traffic is too thin to reach its sample target in time: switches the service's mirror policy to the pub/sub
/// transport paced to <see cref="AmplifyStep.TargetRatePerSecond"/>, where each mirrored request is replayed as often as
/// the observed rate falls short (safe requests only). The policy's transport and target as they were are kept at
/// <c>sep/mirror-boost/{service}</c> and put back by <see cref="RestoreAsync"/> once no shadow of the service warms up.
/// </summary>
public sealed class AmplifyMirroringActivity(RoutingTableStore tables, IStateStore store) : WorkflowActivity<AmplifyStep, bool>
{
    /// <summary>Where the policy's own transport and target are kept while amplified.</summary>
    public static string Key(string service) => $"sep/mirror-boost/{service}";

    /// <inheritdoc />
    public override async Task<bool> RunAsync(WorkflowActivityContext context, AmplifyStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var policy = (await tables.GetAsync(input.Service).ConfigureAwait(false))?.Value.Mirror;
        if (policy is null)
        {
            return false; // mirroring was never turned on: nothing to amplify
        }

        // The first amplification keeps what the operator had; later ones (other shadows, a rerun) find it there.
        await store.TryCreateJsonAsync(Key(input.Service), new MirrorBoost(policy.Transport, policy.TargetRatePerSecond, policy.Amplify)).ConfigureAwait(false);
        await tables.UpdateAsync(input.Service, t => t! with
        {
            Mirror = t.Mirror! with
            {
                Transport = MirrorTransport.PubSub,
                Amplify = 1,
                TargetRatePerSecond = Math.Max(t.Mirror.TargetRatePerSecond ?? 0, input.TargetRatePerSecond),
            },
        }).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Puts the policy's transport and pacing back once none of the service's workflow-run shadows warms up or is being judged
    /// (one placed by hand may sit in Validating for days; it never asked for the boost).
    /// </summary>
    internal static async Task RestoreAsync(RoutingTableStore tables, IStateStore store, string service, string? retiring = null)
    {
        if (await store.GetJsonAsync<MirrorBoost>(Key(service)).ConfigureAwait(false) is not { } boost
            || (await tables.GetAsync(service).ConfigureAwait(false))?.Value is not { } table
            || table.Shadows.Any(s => s.Id != retiring && s.Owner is not null && s.State is ShadowState.Provisioning or ShadowState.Syncing or ShadowState.WarmingUp or ShadowState.Validating))
        {
            return;
        }

        if (table.Mirror is not null)
        {
            await tables.UpdateAsync(service, t => t! with
            {
                Mirror = t.Mirror! with { Transport = boost.Value.Transport, TargetRatePerSecond = boost.Value.TargetRatePerSecond, Amplify = boost.Value.Amplify },
            }).ConfigureAwait(false);
        }

        await store.DeleteAsync(Key(service), etag: null).ConfigureAwait(false);
    }
}

/// <summary>A mirror policy's transport and pacing before warm-up amplified it.</summary>
public sealed record MirrorBoost(MirrorTransport Transport, double? TargetRatePerSecond = null, int Amplify = 1);
