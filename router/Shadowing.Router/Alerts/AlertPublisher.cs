using System.Threading.Channels;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Validation;
using Shadowing.Router.Forwarding;

namespace Shadowing.Router.Alerts;

/// <summary>
/// The router's own alerts (failover to a shadow or default, stale routing tables), published on <c>alerts</c> off the
/// request path: <see cref="TryRaise"/> only queues, at most one alert per service and kind per
/// <see cref="RepeatInterval"/>; a full queue drops (alerts are a signal, the metrics keep the counts).
/// </summary>
internal sealed partial class AlertPublisher(IEventBus bus, TimeProvider time, ILogger<AlertPublisher> logger) : BackgroundService
{
    /// <summary>An alert of one kind for one service is raised at most this often.</summary>
    public static TimeSpan RepeatInterval { get; } = TimeSpan.FromMinutes(1);

    private readonly Channel<Alert> _queue = Channel.CreateBounded<Alert>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, AlertKind), LogGate> _gates = new();
    private readonly long _repeatTicks = (long)(time.TimestampFrequency * RepeatInterval.TotalSeconds);

    /// <summary>Queues an alert unless one of the same kind for the same service was raised within <see cref="RepeatInterval"/>.</summary>
    public bool TryRaise(AlertKind kind, string service, string? endpoint, string reason, string? status)
    {
        var gate = _gates.GetOrAdd((service, kind), _ => new LogGate());
        if (!gate.TryPass(time.GetTimestamp(), _repeatTicks, out var heldBack))
        {
            return false;
        }

        var reasons = heldBack > 0 ? new[] { reason, $"{heldBack} more since the last alert" } : [reason];
        return _queue.Writer.TryWrite(new Alert { Kind = kind, Service = service, Endpoint = endpoint, Reasons = reasons, Status = status, At = time.GetUtcNow() });
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var alert in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                await BackgroundLoop.RunOnceAsync("alerts", ct => bus.PublishAsync(Topics.Alerts, alert, ct), LogPublishFailed, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 90, Level = LogLevel.Warning, Message = "Publishing an alert failed; it is dropped")]
    private partial void LogPublishFailed(Exception error);
}
