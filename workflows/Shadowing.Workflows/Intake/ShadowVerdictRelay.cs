using Dapr.Workflow;
using Shadowing.Core.Messaging;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Intake;

/// <summary>Hands failed revalidations (topic <c>shadow-verdicts</c>) to the owning workflow as its <c>verdict</c> event.</summary>
public sealed partial class ShadowVerdictRelay(IEventBus bus, IDaprWorkflowClient workflows, ILogger<ShadowVerdictRelay> logger) : IHostedService
{
    private IDisposable? _subscription;

    /// <summary>Raises the notice's event on its owner, unless that instance has ended.</summary>
    public async Task RelayAsync(ShadowVerdictNotice notice, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notice);
        if (await workflows.GetWorkflowStateAsync(notice.Owner, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is not { Exists: true, IsWorkflowCompleted: false })
        {
            LogGone(notice.ShadowId, notice.Owner);
            return;
        }

        var check = new ShadowCheck(notice.Verdict, notice.Reasons, notice.JudgedAt);
        await workflows.RaiseEventAsync(notice.Owner, ShadowLifecycleNames.Verdict, new VerdictEvent(notice.ShadowId, check), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = bus.Subscribe<ShadowVerdictNotice>(Topics.ShadowVerdicts, ShadowRequestSubscription.Subscriber, RelayAsync);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 89, Level = LogLevel.Information, Message = "Verdict on shadow {ShadowId} dropped: its workflow {Owner} has ended")]
    private partial void LogGone(string shadowId, string owner);
}
