using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Validation;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>
/// Runs <see cref="ShadowRevalidation"/> every <see cref="ShadowLifecycleOptions.RevalidationInterval"/> on the host's
/// TimeProvider (the embedded host; on Azure the Functions app's <c>ValidateShadows</c> timer), and enforces a kill switch
/// engaged in the store by an operator while the host runs.
/// </summary>
public sealed partial class ShadowRevalidationTimer(ShadowRevalidation revalidation, Intake.ShadowRequestIntake intake, IOptions<ShadowLifecycleOptions> options, TimeProvider time, ILogger<ShadowRevalidationTimer> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RevalidationInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (!await BackgroundLoop.RunOnceAsync(nameof(ShadowRevalidation), TickAsync, LogFailed, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        await intake.EnforceKillSwitchAsync(cancellationToken).ConfigureAwait(false);
        await revalidation.RunOnceAsync(options.Value.RevalidationWindow, cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 84, Level = LogLevel.Warning, Message = "Revalidation pass failed; next at the next tick")]
    private partial void LogFailed(Exception exception);
}
