using Microsoft.Extensions.Hosting;
using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;

namespace Shadowing.Workflows.Intake;

/// <summary>Subscribes <see cref="ShadowRequestIntake"/> to topic <c>shadow-requests</c> for the host's lifetime.</summary>
public sealed class ShadowRequestSubscription(IEventBus bus, ShadowRequestIntake intake) : IHostedService
{
    /// <summary>The subscriber's name in logs and dead-letter records.</summary>
    public const string Subscriber = "sep";

    private IDisposable? _subscription;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = bus.Subscribe<ShadowRequest>(Topics.ShadowRequests, Subscriber, (request, ct) => intake.HandleAsync(request, ct));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }
}
