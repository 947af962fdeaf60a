using Dapr.Workflow;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>
/// Runs once when the host starts: every shadow in the routing tables whose workflow still runs is brought back
/// (adopted when its process is alive, started again where the table points when it died with the previous host);
/// shadows whose workflow is gone, and processes no table entry owns, are stopped and retired.
/// </summary>
public sealed partial class ShadowReconciler(RoutingTableStore tables, IShadowProvisioner provisioner, IDaprWorkflowClient workflows, TimeProvider time, ILogger<ShadowReconciler> logger) : BackgroundService
{
    /// <summary>One reconciliation pass; returns the shadows kept running.</summary>
    public async Task<IReadOnlyList<ProvisionedShadow>> ReconcileAsync(CancellationToken cancellationToken = default)
    {
        var kept = new List<ProvisionedShadow>();
        var owned = new HashSet<(string, string)>();
        foreach (var entry in await tables.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            var service = entry.Value.Service;
            foreach (var shadow in entry.Value.Shadows.Where(s => s.Owner is not null && s.State is not (ShadowState.Retired or ShadowState.Failed)))
            {
                var state = await workflows.GetWorkflowStateAsync(shadow.Owner!, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false);
                if (state is { Exists: true, IsWorkflowCompleted: false })
                {
                    owned.Add((service, shadow.Id));
                    if (shadow.State == ShadowState.Draining)
                    {
                        continue; // about to be retired by its workflow
                    }

                    var resources = state.ReadCustomStatusAs<ShadowLifecycleStatus>()?.Shadows.FirstOrDefault(s => s.ShadowId == shadow.Id)?.Resources ?? new ShadowResources();
                    var running = await provisioner.ProvisionAsync(new ProvisionSpec(service, shadow.Id, resources), cancellationToken).ConfigureAwait(false);
                    if (running.Address != shadow.Address)
                    {
                        await tables.AddShadowAsync(service, shadow with { Address = running.Address }, DateTimeOffset.MinValue, cancellationToken).ConfigureAwait(false);
                    }

                    LogKept(shadow.Id, service, running.Address);
                    kept.Add(running);
                }
                else
                {
                    LogOrphanEntry(shadow.Id, service, shadow.Owner!);
                    await provisioner.RetireAsync(service, shadow.Id, cancellationToken).ConfigureAwait(false);
                    await tables.MoveShadowAsync(service, shadow.Id, ShadowState.Retired, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                }
            }
        }

        foreach (var process in await provisioner.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!owned.Contains((process.Service, process.ShadowId)))
            {
                LogOrphanProcess(process.ShadowId, process.Service);
                await provisioner.RetireAsync(process.Service, process.ShadowId, cancellationToken).ConfigureAwait(false);
            }
        }

        return kept;
    }

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundLoop.RunOnceAsync(nameof(ShadowReconciler), ReconcileAsync, LogFailed, stoppingToken);

    [LoggerMessage(EventId = 85, Level = LogLevel.Information, Message = "Shadow {ShadowId} of {Service} kept at {Address}: its workflow still runs")]
    private partial void LogKept(string shadowId, string service, string address);

    [LoggerMessage(EventId = 86, Level = LogLevel.Warning, Message = "Shadow {ShadowId} of {Service} retired: its workflow {Owner} no longer runs")]
    private partial void LogOrphanEntry(string shadowId, string service, string owner);

    [LoggerMessage(EventId = 87, Level = LogLevel.Warning, Message = "Shadow process {ShadowId} of {Service} stopped: no workflow owns it")]
    private partial void LogOrphanProcess(string shadowId, string service);

    [LoggerMessage(EventId = 88, Level = LogLevel.Error, Message = "Reconciling shadows with their workflows failed")]
    private partial void LogFailed(Exception exception);
}
