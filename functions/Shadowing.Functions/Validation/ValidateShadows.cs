using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Shadowing.Core.Validation;

namespace Shadowing.Functions.Validation;

/// <summary>
/// Continuous validation on a timer (the app setting <c>ValidateShadowsSchedule</c>, required; the sample runs it every minute): re-judges every PreWarmed
/// and Active shadow a workflow owns over the last <c>ValidateShadowsWindow</c> (default 10 min) and publishes each
/// failure on <c>shadow-verdicts</c>, where the workflows host hands it to the shadow's workflow.
/// </summary>
public sealed partial class ValidateShadows(ShadowRevalidation revalidation, ValidateShadowsOptions options, ILogger<ValidateShadows> logger)
{
    [Function(nameof(ValidateShadows))]
    public async Task Run([TimerTrigger("%ValidateShadowsSchedule%")] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        var failing = await revalidation.RunOnceAsync(options.Window, cancellationToken).ConfigureAwait(false);
        LogRan(failing.Count, string.Join(", ", failing.Select(f => $"{f.Service}/{f.ShadowId}")));
    }

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "ValidateShadows: {Failing} shadow(s) failed revalidation {Shadows}")]
    private partial void LogRan(int failing, string shadows);
}

/// <summary>The window <see cref="ValidateShadows"/> judges (<c>ValidateShadowsWindow</c>).</summary>
public sealed record ValidateShadowsOptions(TimeSpan Window);
