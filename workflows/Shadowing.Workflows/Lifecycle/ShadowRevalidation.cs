using Dapr.Workflow;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>
/// Continuous validation: judges every PreWarmed and Active shadow that a workflow owns over the last
/// <see cref="ShadowLifecycleOptions.RevalidationWindow"/>, and raises <c>verdict</c> on the owner when one fails, which
/// remediates or retires it. The Functions app's <c>ValidateShadows</c> timer calls <see cref="RunOnceAsync"/> on Azure;
/// <see cref="ShadowRevalidationTimer"/> does on the embedded host.
/// </summary>
public sealed partial class ShadowRevalidation(RoutingTableStore tables, ShadowValidator validator, IDaprWorkflowClient workflows, IOptions<ShadowLifecycleOptions> options, ILogger<ShadowRevalidation> logger)
{
    /// <summary>One pass over all services; returns the failing shadows reported to their workflows.</summary>
    public async Task<IReadOnlyList<(string Service, string Shadow)>> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var failing = new List<(string, string)>();
        foreach (var entry in await tables.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var shadow in entry.Value.Shadows.Where(s => s.Owner is not null && ShadowLifecycle.IsRoutable(s.State)))
            {
                var verdict = await validator.ValidateAsync(entry.Value.Service, shadow.Id, options.Value.RevalidationWindow, cancellationToken).ConfigureAwait(false);
                if (verdict.Verdict != Verdict.Fail)
                {
                    continue; // a pass or too little traffic changes nothing; only failures cost the workflow a turn
                }

                LogFailing(entry.Value.Service, shadow.Id, shadow.Owner!);
                var check = new ShadowCheck(verdict.Verdict, verdict.Reasons.Take(4).ToArray(), verdict.JudgedAt);
                await workflows.RaiseEventAsync(shadow.Owner!, ShadowLifecycleNames.Verdict, new VerdictEvent(shadow.Id, check), cancellationToken).ConfigureAwait(false);
                failing.Add((entry.Value.Service, shadow.Id));
            }
        }

        return failing;
    }

    [LoggerMessage(EventId = 83, Level = LogLevel.Warning, Message = "Shadow {ShadowId} of {Service} failed revalidation; told {Owner}")]
    private partial void LogFailing(string service, string shadowId, string owner);
}

/// <summary>Runs <see cref="ShadowRevalidation"/> every <see cref="ShadowLifecycleOptions.RevalidationInterval"/> on the host's TimeProvider.</summary>
public sealed partial class ShadowRevalidationTimer(ShadowRevalidation revalidation, IOptions<ShadowLifecycleOptions> options, TimeProvider time, ILogger<ShadowRevalidationTimer> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RevalidationInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (!await BackgroundLoop.RunOnceAsync(nameof(ShadowRevalidation), revalidation.RunOnceAsync, LogFailed, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 84, Level = LogLevel.Warning, Message = "Revalidation pass failed; next at the next tick")]
    private partial void LogFailed(Exception exception);
}
