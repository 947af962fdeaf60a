using Dapr.Workflow;
using Microsoft.Extensions.Options;
using Shadowing.Core.Data;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Data;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>
/// Keeps shadows and their workflows in step. When the host starts (before the workflow worker, so no resumed activity
/// races it) every shadow whose workflow still runs is brought back: adopted when its process is alive, started again
/// where the routing table points when it died with the previous host. On every start and every maintenance tick,
/// shadows whose workflow has ended (failed, terminated, purged) are retired and their processes stopped, and so are
/// processes that no table entry owns.
/// </summary>
public sealed partial class ShadowReconciler(
    RoutingTableStore tables,
    IShadowProvisioner provisioner,
    IDaprWorkflowClient workflows,
    IStateStore store,
    IEventBus bus,
    ShadowDataService data,
    TimeProvider time,
    ILogger<ShadowReconciler> logger,
    IOptions<ShadowLifecycleOptions>? options = null) : IHostedLifecycleService
{
    /// <summary>A process not in any table this long after it started is an orphan (its activity would have added it by then).</summary>
    public static readonly TimeSpan OrphanGrace = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The least a gone shadow's records are kept (<see cref="ShadowLifecycleOptions.KeepRetired"/> when longer): an
    /// activity of its workflow run again after its retirement (a worker that died mid-activity) must still find them.
    /// </summary>
    public static readonly TimeSpan RecordsGrace = TimeSpan.FromHours(1);

    private readonly TimeSpan _keepRecords = options?.Value.KeepRetired is { } keep && keep > RecordsGrace ? keep : RecordsGrace;

    private bool _startPassDone;

    // After a start pass that could not start some shadows again: only those are tried again at the next ticks. Restarting
    // every shadow at every tick while one keeps failing (a broken template, a quota) raced their workflows retiring them.
    private HashSet<(string Service, string Shadow)>? _restartOnly;

    // Services whose routing tables could not be read in the start pass: every one of their shadows gets it once they can be.
    private HashSet<string> _startPending = [];

    /// <summary>
    /// A maintenance tick: the start pass again until one has succeeded (with Dapr the sidecar's workflow engine may not
    /// answer before the app listens), for the shadows it could not start again, then sweeps only.
    /// </summary>
    public Task SweepAsync(CancellationToken cancellationToken = default) =>
        ReconcileAsync(restartDead: !_startPassDone, _restartOnly, cancellationToken);

    /// <summary>
    /// One pass; returns the shadows kept running. <paramref name="restartDead"/> (at start only) starts again the
    /// shadows of running workflows whose process is gone; a tick leaves that to the start, since a workflow may be
    /// retiring the shadow at that very moment.
    /// </summary>
    public Task<IReadOnlyList<ProvisionedShadow>> ReconcileAsync(bool restartDead, CancellationToken cancellationToken = default) =>
        ReconcileAsync(restartDead, only: null, cancellationToken);

    private async Task<IReadOnlyList<ProvisionedShadow>> ReconcileAsync(bool restartDead, HashSet<(string Service, string Shadow)>? only, CancellationToken cancellationToken)
    {
        var notRestarted = new HashSet<(string Service, string Shadow)>();
        var kept = new List<ProvisionedShadow>();
        var owned = new HashSet<(string, string)>();
        var failures = new List<Exception>(); // one shadow that cannot be reconciled does not hold up the others
        var snapshotAt = time.GetUtcNow();
        // A table that cannot be read fails the pass (counted, retried), not the other services'; its shadows' processes are
        // not swept as orphans, since the table that owns them is only unreadable.
        var unreadable = new HashSet<string>(StringComparer.Ordinal);
        var entries = await tables.ListAsync(
            (service, ex) =>
            {
                unreadable.Add(service);
                failures.Add(ex);
                LogTableUnreadable(ex, service);
            },
            cancellationToken).ConfigureAwait(false);
        foreach (var entry in entries)
        {
            var service = entry.Value.Service;
            foreach (var shadow in entry.Value.Shadows.Where(s => s.Owner is not null && s.State == ShadowState.Retired && entry.Value.Mirror?.Targets.Contains(s.Id) == true))
            {
                // Marked Retired, but its retirement stopped before the rest (the store failing past the activity's retries):
                // every step is safe to repeat, and a target left behind would outlive the entry and fail every later write.
                LogUnfinishedRetirement(shadow.Id, service);
                try
                {
                    await new RetireShadowActivity(provisioner, tables, store, bus, data, time)
                        .RetireAsync(new RetireStep(service, shadow.Id))
                        .ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    failures.Add(ex);
                    LogShadowFailed(ex, shadow.Id, service);
                }
            }

            foreach (var shadow in entry.Value.Shadows.Where(s => s.Owner is not null && s.State != ShadowState.Retired))
            {
                var restart = restartDead && (only?.Contains((service, shadow.Id)) != false || _startPending.Contains(service));
                try
                {
                    var (stillOwned, running) = await KeepAsync(service, shadow, restart, snapshotAt, cancellationToken).ConfigureAwait(false);
                    if (stillOwned)
                    {
                        owned.Add((service, shadow.Id));
                    }

                    if (running is not null)
                    {
                        kept.Add(running);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // Not known to be orphaned, so its process is not swept below; the others are still reconciled.
                    owned.Add((service, shadow.Id));
                    if (restart)
                    {
                        notRestarted.Add((service, shadow.Id));
                    }

                    failures.Add(ex);
                    LogShadowFailed(ex, shadow.Id, service);
                }
            }
        }

        if (restartDead)
        {
            // Every running workflow's shadow is back: later ticks only sweep, even if an orphan below cannot be stopped
            // (starting shadows again while their workflows run could race a workflow retiring one). Otherwise they try
            // again only the ones that could not be started.
            _startPassDone = notRestarted.Count == 0 && unreadable.Count == 0;
            _restartOnly = notRestarted;
            _startPending = unreadable; // their shadows have not had the start pass yet: they get it once their tables can be read
        }

        foreach (var process in (await provisioner.ListAsync(cancellationToken).ConfigureAwait(false)).Where(p => !unreadable.Contains(p.Service)))
        {
            try
            {
                await SweepProcessAsync(process, owned, snapshotAt, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failures.Add(ex);
                LogShadowFailed(ex, process.ShadowId, process.Service);
            }
        }

        // Claims whose workflow ended before its shadow was listed anywhere (terminated while provisioning) name nothing.
        foreach (var key in await store.ListKeysAsync(ProvisionShadowActivity.ClaimPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (await store.GetJsonAsync<string>(key, cancellationToken).ConfigureAwait(false) is { Value: { } claimant } claim
                && await workflows.GetWorkflowStateAsync(claimant, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is not { Exists: true, IsWorkflowCompleted: false })
            {
                try
                {
                    await store.DeleteAsync(key, claim.ETag, cancellationToken).ConfigureAwait(false);
                }
                catch (StateConflictException)
                {
                    // claimed again since it was read: the next sweep decides on the new claim
                }
            }
        }

        foreach (var entry in entries)
        {
            try
            {
                await PruneRecordsAsync(entry.Value, snapshotAt - _keepRecords, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogPruneFailed(ex, entry.Value.Service); // kept until the next tick: nothing depends on their going
            }
        }

        // The start pass is repeated by the ticks until it succeeds: a shadow it could not start again must not be forgotten.
        return failures.Count == 0 ? kept : throw new AggregateException($"{failures.Count} shadow(s) could not be reconciled; the next maintenance tick tries again.", failures);
    }

    /// <summary>
    /// One table entry whose workflow may still run: retired as its workflow would have when that has ended (not owned);
    /// otherwise owned, and at start (<paramref name="restartDead"/>) adopted or started again.
    /// </summary>
    private async Task<(bool Owned, ProvisionedShadow? Running)> KeepAsync(string service, ShadowEndpoint shadow, bool restartDead, DateTimeOffset snapshotAt, CancellationToken cancellationToken)
    {
        // The custom status (each shadow's resources, for a restart) comes only with the payloads, from daprd as from
        // the embedded backend: without it a remediated shadow would be started again at the default size.
        var state = await workflows.GetWorkflowStateAsync(shadow.Owner!, getInputsAndOutputs: restartDead, cancellationToken).ConfigureAwait(false);
        if (state is not { Exists: true, IsWorkflowCompleted: false })
        {
            // As its workflow would have: out of the mirror targets, the mirror policy put back, an alert.
            LogOrphanEntry(shadow.Id, service, shadow.Owner!);
            await new RetireShadowActivity(provisioner, tables, store, bus, data, time)
                .RetireAsync(new RetireStep(service, shadow.Id, $"its workflow {shadow.Owner} ended without retiring it"))
                .ConfigureAwait(false);
            return (false, null);
        }

        if (!restartDead || shadow.State is ShadowState.Draining or ShadowState.Failed)
        {
            return (true, null); // about to be retired by its workflow
        }

        var resources = state.ReadCustomStatusAs<ShadowLifecycleStatus>()?.Shadows.FirstOrDefault(s => s.ShadowId == shadow.Id)?.Resources ?? new ShadowResources();
        var running = await provisioner.ProvisionAsync(new ProvisionSpec(service, shadow.Id, resources), cancellationToken).ConfigureAwait(false);
        if (running.StartedAt >= snapshotAt)
        {
            // Started again: its address may differ, and revalidation must judge only the new process from here on.
            await tables.UpdateAsync(
                service,
                t => t! with { Shadows = t.Shadows.Select(s => s.Id == shadow.Id ? s with { Address = running.Address, StateChangedAt = running.StartedAt } : s).ToArray() },
                cancellationToken).ConfigureAwait(false);
        }

        LogKept(shadow.Id, service, running.Address);
        return (true, running);
    }

    /// <summary>
    /// Deletes what shadows of <paramref name="table"/>'s service left behind (latest verdict, data-sync record, failure-alert
    /// mark) once they are out of the table (pruned <see cref="ShadowLifecycleOptions.KeepRetired"/> after retiring, or
    /// never added) and the record dates from before <paramref name="before"/>: each would otherwise stay, and stay named
    /// in its collection's listing index, for good. The sync record is also what keeps a late sync rerun from copying
    /// data for a retired shadow, hence the wait.
    /// </summary>
    private async Task PruneRecordsAsync(RoutingTable table, DateTimeOffset before, CancellationToken cancellationToken)
    {
        // Read again: a shadow added since the pass began has records too.
        table = (await tables.GetAsync(table.Service, cancellationToken).ConfigureAwait(false))?.Value ?? table;

        // Retired entries stay for operators to see how they ended, then leave the table (a service that gets no new shadow,
        // where adding one prunes them too, would keep them for good). Not one still a mirror target: its retirement is unfinished.
        if (table.Shadows.Any(s => Expired(s, table)))
        {
            table = await tables.UpdateAsync(
                table.Service,
                current => current is null ? throw new KeyNotFoundException($"Service '{table.Service}' has no routing table any more.") : current with { Shadows = [.. current.Shadows.Where(s => !Expired(s, current))] },
                cancellationToken).ConfigureAwait(false);
        }

        bool Expired(ShadowEndpoint shadow, RoutingTable of) =>
            shadow.State == ShadowState.Retired && (shadow.StateChangedAt ?? DateTimeOffset.MaxValue) < before && of.Mirror?.Targets.Contains(shadow.Id) != true;

        // A shadow promoted to production keeps its id (and may serve from its copy of the data): present too.
        var present = table.Shadows.Select(s => s.Id).Concat(table.Production.Select(p => p.Id)).ToHashSet(StringComparer.Ordinal);

        // A shadow taken out of its table by hand (not retired) left its copy of production's data: deleted first, which
        // records the deletion, so the record goes only a KeepRetired later. Not a copy synced in the last minute: its
        // shadow may have been added after the table was read.
        var syncRecords = StateKeys.ShadowSyncRecord(table.Service, string.Empty);
        foreach (var key in await store.ListKeysAsync(syncRecords, cancellationToken).ConfigureAwait(false))
        {
            var shadowId = key[syncRecords.Length..];
            if (!present.Contains(shadowId)
                && await store.GetJsonAsync<ShadowSyncRecord>(key, cancellationToken).ConfigureAwait(false) is { Value: { Mode: not ("deleted" or "none") } record }
                && record.At < time.GetUtcNow() - OrphanGrace)
            {
                LogCopyLeftBehind(shadowId, table.Service);
                await data.DeleteAsync(table.Service, shadowId, cancellationToken).ConfigureAwait(false);
            }
        }

        var pruned = await PruneAsync<ShadowVerdict>(StateKeys.Verdict(table.Service, string.Empty), v => v.JudgedAt).ConfigureAwait(false)
            + await PruneAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord(table.Service, string.Empty), r => r.At).ConfigureAwait(false)
            + await PruneAsync<RetireShadowActivity.AlertedMark>(RetireShadowActivity.AlertedKey(table.Service, string.Empty), m => m.At).ConfigureAwait(false);
        if (pruned > 0)
        {
            LogPrunedRecords(pruned, table.Service);
        }

        async Task<int> PruneAsync<T>(string prefix, Func<T, DateTimeOffset> at)
        {
            var count = 0;
            foreach (var key in await store.ListKeysAsync(prefix, cancellationToken).ConfigureAwait(false))
            {
                if (!present.Contains(key[prefix.Length..])
                    && await store.GetJsonAsync<T>(key, cancellationToken).ConfigureAwait(false) is { Value: { } record } entry
                    && at(record) < before)
                {
                    try
                    {
                        await store.DeleteAsync(key, entry.ETag, cancellationToken).ConfigureAwait(false);
                        count++;
                    }
                    catch (StateConflictException)
                    {
                        // written again since it was read: the next tick decides on what is there then
                    }
                }
            }

            return count;
        }
    }

    /// <summary>Stops a process no table entry or running workflow owns.</summary>
    private async Task SweepProcessAsync(ProvisionedShadow process, HashSet<(string, string)> owned, DateTimeOffset snapshotAt, CancellationToken cancellationToken)
    {
        // A young process may belong to an activity about to add it to its table.
        if (owned.Contains((process.Service, process.ShadowId)) || process.StartedAt >= snapshotAt - OrphanGrace)
        {
            return;
        }

        // One still being started (a Container App is listed minutes before it runs) is claimed by its workflow.
        var claimKey = ProvisionShadowActivity.ClaimKey(process.Service, process.ShadowId);
        if (await store.GetJsonAsync<string>(claimKey, cancellationToken).ConfigureAwait(false) is { Value: { } claimant }
            && await workflows.GetWorkflowStateAsync(claimant, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is { Exists: true, IsWorkflowCompleted: false })
        {
            return;
        }

        // Its activity may have added it and let go of the claim since the tables were read.
        if ((await tables.GetAsync(process.Service, cancellationToken).ConfigureAwait(false))?.Value.Shadows.Any(s => s.Id == process.ShadowId && s.State != ShadowState.Retired) == true)
        {
            return;
        }

        LogOrphanProcess(process.ShadowId, process.Service);
        await provisioner.RetireAsync(process.Service, process.ShadowId, cancellationToken).ConfigureAwait(false);
        await store.DeleteAsync(claimKey, etag: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>A failure (the store or sidecar not answering yet) is logged and does not stop the host; the ticks sweep later.</remarks>
    public Task StartingAsync(CancellationToken cancellationToken) =>
        BackgroundLoop.RunOnceAsync(nameof(ShadowReconciler), SweepAsync, LogFailed, cancellationToken);

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 97, Level = LogLevel.Warning, Message = "Reconciling shadow {ShadowId} of {Service} failed; the others are reconciled, and the next maintenance tick tries it again")]
    private partial void LogShadowFailed(Exception exception, string shadowId, string service);

    [LoggerMessage(EventId = 104, Level = LogLevel.Error, Message = "The routing table of {Service} cannot be read: its shadows are not reconciled (nor their processes swept) until it can; the other services are")]
    private partial void LogTableUnreadable(Exception exception, string service);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Shadow {ShadowId} of {Service} is in no routing table but its copy of production's data was still there: deleted")]
    private partial void LogCopyLeftBehind(string shadowId, string service);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Pruning the records of gone shadows of {Service} failed; the next maintenance tick tries again")]
    private partial void LogPruneFailed(Exception exception, string service);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Deleted {Count} record(s) of shadows of {Service} that are gone (verdicts, data-sync records, alert marks)")]
    private partial void LogPrunedRecords(int count, string service);

    [LoggerMessage(EventId = 88, Level = LogLevel.Warning, Message = "Reconciling shadows with their workflows at start failed; the maintenance tick tries again")]
    private partial void LogFailed(Exception exception);

    [LoggerMessage(EventId = 85, Level = LogLevel.Information, Message = "Shadow {ShadowId} of {Service} kept at {Address}: its workflow still runs")]
    private partial void LogKept(string shadowId, string service, string address);

    [LoggerMessage(EventId = 86, Level = LogLevel.Warning, Message = "Shadow {ShadowId} of {Service} retired: its workflow {Owner} no longer runs")]
    private partial void LogOrphanEntry(string shadowId, string service, string owner);

    [LoggerMessage(EventId = 92, Level = LogLevel.Warning, Message = "Shadow {ShadowId} of {Service} is Retired but still a mirror target: finishing its retirement")]
    private partial void LogUnfinishedRetirement(string shadowId, string service);

    [LoggerMessage(EventId = 87, Level = LogLevel.Warning, Message = "Shadow process {ShadowId} of {Service} stopped: no workflow owns it")]
    private partial void LogOrphanProcess(string shadowId, string service);
}
