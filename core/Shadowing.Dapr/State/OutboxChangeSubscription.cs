using Microsoft.Extensions.Hosting;
using Shadowing.Core.Data;
using Shadowing.Core.Messaging;

namespace Shadowing.Dapr.State;

/// <summary>Appends what arrives on each data service's <c>data-changes.{service}</c> to <see cref="OutboxChangeFeed"/>, for the host's lifetime.</summary>
public sealed class OutboxChangeSubscription(IEventBus bus, OutboxChangeFeed feed) : IHostedService
{
    /// <summary>The subscriber's name in logs and dead-letter records.</summary>
    public const string Subscriber = "data-sync";

    private readonly List<IDisposable> _subscriptions = [];

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var service in feed.Services)
        {
            _subscriptions.Add(bus.Subscribe<DataChangeMessage>(Topics.DataChanges(service), Subscriber, (message, ct) => feed.AppendAsync(service, message, ct)));
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscriptions.ForEach(s => s.Dispose());
        _subscriptions.Clear();
        return Task.CompletedTask;
    }
}
