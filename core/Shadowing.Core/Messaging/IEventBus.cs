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
    /// Publishes <paramref name="data"/> that is of no use after <paramref name="timeToLive"/>: the bus drops it
    /// undelivered once it is older (Dapr: the <c>ttlInSeconds</c> metadata, checked by daprd before each delivery).
    /// </summary>
    Task PublishAsync<T>(string topic, T data, TimeSpan timeToLive, CancellationToken cancellationToken = default);

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

    /// <summary>The outcome of each mirrored request (production's answer against a shadow's), for validation.</summary>
    public const string ShadowOutcomes = "shadow-outcomes";

    /// <summary>Failed revalidations of workflow-owned shadows, for the workflows host to hand to their workflows.</summary>
    public const string ShadowVerdicts = "shadow-verdicts";

    /// <summary>Alerts: failed validations, failovers, stale routing tables.</summary>
    public const string Alerts = "alerts";

    /// <summary>Mirrored requests of <paramref name="service"/> on their way to its shadows (the pub/sub transport).</summary>
    public static string Mirror(string service) => MirrorPrefix + service;

    /// <summary>The prefix of every <see cref="Mirror"/> topic.</summary>
    public const string MirrorPrefix = "mirror.";

    /// <summary>
    /// Changes to <paramref name="service"/>'s production data (<c>data/{service}/…</c>), published by the Dapr transactional
    /// outbox of its data component (payload <see cref="Data.DataChangeMessage"/>), for shadows' data sync.
    /// </summary>
    public static string DataChanges(string service) => "data-changes." + service;
}

/// <summary>Payload of <see cref="Topics.RoutingChanged"/>.</summary>
/// <param name="Service">The service whose routing table changed.</param>
public sealed record RoutingChanged(string Service);
