namespace Shadowing.Dapr;

/// <summary>
/// Names of the Dapr components in <c>components/*.yaml</c>. A test parses those files and fails if they drift.
/// </summary>
public static class DaprComponents
{
    /// <summary>The state store (also the actor/workflow state store): <c>components/statestore.yaml</c>.</summary>
    public const string StateStore = "statestore";

    /// <summary>The pub/sub component: <c>components/pubsub.yaml</c>.</summary>
    public const string PubSub = "pubsub";

    /// <summary>
    /// The pub/sub component of work that one replica must do once: mirrored requests (topics <c>mirror.{service}</c>)
    /// and alerts (each sent to the webhook once): <c>components/queue-pubsub.yaml</c>. Its consumer group is shared by
    /// all replicas of an app, where <see cref="PubSub"/> gives each replica its own (each needs every routing change).
    /// </summary>
    public const string QueuePubSub = "queue-pubsub";

    /// <summary>The component a topic is published on: <see cref="QueuePubSub"/> for mirrored requests, alerts, shadow requests and verdicts (each handled once), else <paramref name="general"/>.</summary>
    public static string PubSubOf(string topic, string general = PubSub) =>
        topic.StartsWith(Core.Messaging.Topics.MirrorPrefix, StringComparison.Ordinal) || topic is Core.Messaging.Topics.Alerts or Core.Messaging.Topics.ShadowRequests or Core.Messaging.Topics.ShadowVerdicts ? QueuePubSub : general;

    /// <summary>
    /// The state store component of <paramref name="service"/>'s production data, <c>data-{service}</c>
    /// (<c>components/*/data-orders.yaml</c>): the transactional outbox on, and keys of its own (<c>keyPrefix: name</c>), so
    /// the production apps it is scoped to cannot read or write Shadowing's state. Lower case, '_' as '-': Kubernetes and
    /// Container Apps take component names of lower-case letters, digits, '-' and '.' only (<c>Order_Api</c>: <c>data-order-api</c>).
    /// </summary>
    public static string DataStore(string service) => "data-" + service.ToLowerInvariant().Replace('_', '-');

    /// <summary>Route on which this app receives events of a topic: <c>/events/{topic}</c>, as declared in <c>components/subscriptions.yaml</c>.</summary>
    public static string EventRoute(string topic) => "/events/" + topic;
}

/// <summary>Dapr app ids used in <c>dapr.yaml</c> and in component scopes.</summary>
public static class DaprAppIds
{
    /// <summary>The router.</summary>
    public const string Router = "router";

    /// <summary>The Azure Functions app (timers and the status API).</summary>
    public const string Functions = "functions";

    /// <summary>The host of the Dapr workflow worker.</summary>
    public const string Workflows = "workflows";
}
