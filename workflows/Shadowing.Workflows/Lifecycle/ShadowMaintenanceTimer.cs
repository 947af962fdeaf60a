using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Data;
using Shadowing.Workflows.Intake;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>
/// Every <see cref="ShadowLifecycleOptions.RevalidationInterval"/> on the host's TimeProvider: enforces a kill switch an
/// operator engaged in the store, decides open shadow requests whose message never arrived or that grew
/// (<see cref="ShadowRequestIntake.ReconcileOpenRequestsAsync"/>), sweeps shadows whose workflow has ended (<see cref="ShadowReconciler"/>), and, when
/// <paramref name="revalidate"/> (the embedded host; with Dapr the Functions app's <c>ValidateShadows</c> does it),
/// runs continuous validation.
/// </summary>
public sealed partial class ShadowMaintenanceTimer(
    ShadowRequestIntake intake,
    ShadowReconciler reconciler,
    ShadowRevalidation revalidation,
    ShadowDataService data,
    AlertOutbox alerts,
    IOptions<ShadowLifecycleOptions> options,
    TimeProvider time,
    ILogger<ShadowMaintenanceTimer> logger,
    bool revalidate) : BackgroundService
{
    /// <summary>
    /// One tick. Each step runs whatever another did: one that fails (the store, a provisioner's listing, the bus) does not
    /// hold up the rest, so continuous validation never stops for a sweep that cannot list. The failures are thrown together
    /// at the end, for the log.
    /// </summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        var failed = new List<Exception>();
        async Task Step(Func<CancellationToken, Task> step)
        {
            try
            {
                await step(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failed.Add(ex);
            }
        }

        await Step(intake.EnforceKillSwitchAsync).ConfigureAwait(false);
        await Step(intake.ReconcileOpenRequestsAsync).ConfigureAwait(false);
        await Step(reconciler.SweepAsync).ConfigureAwait(false); // shadows of ended workflows, even when requests cannot be listed
        await Step(data.SyncAllAsync).ConfigureAwait(false); // shadows' copies follow production's changes
        await Step(alerts.FlushAsync).ConfigureAwait(false); // alerts raised while the bus was down
        if (revalidate)
        {
            await Step(ct => revalidation.RunOnceAsync(options.Value.RevalidationWindow, ct)).ConfigureAwait(false);
        }

        if (failed.Count > 0)
        {
            throw new AggregateException($"{failed.Count} step(s) of the shadow maintenance tick failed; the others ran.", failed);
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RevalidationInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (!await BackgroundLoop.RunOnceAsync("shadow-maintenance", TickAsync, LogFailed, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 84, Level = LogLevel.Warning, Message = "Shadow maintenance tick failed; next at the next tick")]
    private partial void LogFailed(Exception exception);
}
