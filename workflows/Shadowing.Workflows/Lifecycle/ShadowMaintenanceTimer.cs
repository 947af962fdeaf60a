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
    IOptions<ShadowLifecycleOptions> options,
    TimeProvider time,
    ILogger<ShadowMaintenanceTimer> logger,
    bool revalidate) : BackgroundService
{
    /// <summary>One tick.</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await intake.EnforceKillSwitchAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await intake.ReconcileOpenRequestsAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Shadows of ended workflows are retired even when the store could not list the requests this tick.
            await reconciler.SweepAsync(cancellationToken).ConfigureAwait(false);
        }
        try
        {
            await data.SyncAllAsync(cancellationToken).ConfigureAwait(false); // shadows' copies follow production's changes
        }
        finally
        {
            // A data sync that fails does not hold up validation.
            if (revalidate)
            {
                await revalidation.RunOnceAsync(options.Value.RevalidationWindow, cancellationToken).ConfigureAwait(false);
            }
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
