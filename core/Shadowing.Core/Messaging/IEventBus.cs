namespace Shadowing.Core.Messaging;

/// <summary>
/// Publish/subscribe with at-least-once delivery: the in-process bus of the embedded host, or Dapr pub/sub.
/// Handlers must be idempotent because a message can arrive more than once.
/// </summary>
public interface IEventBus
{
    /// <summary>Publishes <paramref name="data"/> on <paramref name="topic"/>; returns when the bus has accepted it.</summary>
    Task PublishAsync<T>(string topic, T data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Registers <paramref name="handler"/> for <paramref name="topic"/>. A handler that throws gets the message
    /// again (with back-off); <paramref name="subscriber"/> names it in logs and dead-letter records.
    /// Dispose the result to unsubscribe.
    /// </summary>
    IDisposable Subscribe<T>(string topic, string subscriber, Func<T, CancellationToken, Task> handler);
}

/// <summary>Topic names. With Dapr they must match the subscriptions in <c>components/</c>.</summary>
public static class Topics
{
    /// <summary>A routing table was written; payload <see cref="RoutingChanged"/>.</summary>
    public const string RoutingChanged = "routing-changed";

    /// <summary>Per-minute, per-endpoint metric records written by the router.</summary>
    public const string Metrics = "metrics";

    /// <summary>Requests for shadows emitted by the PAE, for the provisioning workflow.</summary>
    public const string ShadowRequests = "shadow-requests";
}

/// <summary>Payload of <see cref="Topics.RoutingChanged"/>.</summary>
/// <param name="Service">The service whose routing table changed.</param>
public sealed record RoutingChanged(string Service);
