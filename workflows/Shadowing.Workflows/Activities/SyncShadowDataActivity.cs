using Dapr.Workflow;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>What data sync did for a shadow, at <c>sep/sync/{service}/{shadow}</c>.</summary>
public sealed record ShadowSyncRecord(string Mode, string Note, DateTimeOffset At);

/// <summary>
/// Moves the shadow to Syncing and gives it its data. No sync port exists yet (the data-sync issue adds differential,
/// time-shifted and synthetic sync), so it records that none was requested: the shadow runs on whatever data its
/// command gives it.
/// </summary>
public sealed class SyncShadowDataActivity(RoutingTableStore tables, IStateStore store, TimeProvider time) : WorkflowActivity<ShadowStep, string>
{
    /// <summary>The record's key.</summary>
    public static string Key(string service, string shadowId) => $"sep/sync/{service}/{shadowId}";

    /// <inheritdoc />
    public override async Task<string> RunAsync(WorkflowActivityContext context, ShadowStep input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var now = time.GetUtcNow();
        await tables.MoveShadowAsync(input.Service, input.ShadowId, ShadowState.Syncing, now).ConfigureAwait(false);
        const string note = "no data sync requested";
        await store.SaveJsonAsync(Key(input.Service, input.ShadowId), new ShadowSyncRecord("none", note, now)).ConfigureAwait(false);
        return note;
    }
}
