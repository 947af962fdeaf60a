using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Shadowing.TestUtilities.Dapr;

/// <summary>A subscription the fake sidecar delivers: declared by a test, or read from the app's <c>GET /dapr/subscribe</c>.</summary>
/// <param name="PubSubName">The pub/sub component.</param>
/// <param name="Topic">The topic.</param>
/// <param name="Route">Where events are POSTed.</param>
/// <param name="DeadLetterTopic">Where dropped or undeliverable events go, if anywhere.</param>
public sealed record FakeSubscription(string PubSubName, string Topic, Uri Route, string? DeadLetterTopic);

/// <summary>How a delivery ended for daprd.</summary>
public enum DeliveryOutcome
{
    /// <summary>The app took it (2xx with SUCCESS, no status, or an unreadable body).</summary>
    Success,

    /// <summary>The app asked to retry: RETRY, any unknown status (case-sensitive), a non-2xx other than 404, or no answer.</summary>
    Retry,

    /// <summary>The app dropped it: DROP, or 404.</summary>
    Drop,
}

/// <summary>
/// daprd's pub/sub delivery over a Redis Streams component, as in dapr/dapr <c>pkg/runtime/subscription</c> and
/// components-contrib <c>pubsub/redis</c> (read at d8450742 / c23900d2):
/// <list type="bullet">
/// <item>each delivery is a POST of a CloudEvent; its answer is read by <c>postman/http.Deliver</c>
/// (<see cref="Classify"/>);</item>
/// <item>a retry is repeated by the inbound resiliency policy up to <see cref="MaxDeliveryAttempts"/>; then, or at
/// once for a drop, the event goes to the subscription's dead-letter topic when it has one
/// (<c>subscription.New</c>, <c>sendToDeadLetter</c>), else it is acknowledged and lost (Redis Streams from Dapr
/// 1.17: <c>processMessage</c> acks a failed message) and counted in <see cref="Lost"/>;</item>
/// <item>a delivery not answered within <see cref="ProcessingTimeout"/> is claimed again by the redelivery loop
/// (<c>reclaimPendingMessages</c>: XPENDING + XCLAIM), so a slow handler gets the event a second time while
/// still working on the first.</item>
/// </list>
/// </summary>
public sealed class FakePubSub(string? appApiToken) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ImmutableSubscriptions> _subscriptions = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<Task> _deliveries = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>Events published through the sidecar, in order (dead-letter republishes included).</summary>
    public ConcurrentQueue<PublishedEvent> Published { get; } = new();

    /// <summary>Events sent to a dead-letter topic.</summary>
    public ConcurrentQueue<PublishedEvent> DeadLettered { get; } = new();

    /// <summary>Events acknowledged without being delivered (no dead-letter topic).</summary>
    public ConcurrentQueue<PublishedEvent> Lost { get; } = new();

    /// <summary>Events dropped undelivered because their expiration had passed (daprd: "dropping expired pub/sub event").</summary>
    public ConcurrentQueue<PublishedEvent> Expired { get; } = new();

    /// <summary>Every delivery attempt and how it ended, in order.</summary>
    public ConcurrentQueue<(string Topic, DeliveryOutcome Outcome)> Attempts { get; } = new();

    /// <summary>Attempts per delivery under the inbound resiliency retry policy: components/resiliency.yaml's deliveryRetry, 5 retries after the first attempt.</summary>
    public int MaxDeliveryAttempts { get; set; } = 6;

    /// <summary>Redis Streams' <c>processingTimeout</c> (its default: 60 s).</summary>
    public TimeSpan ProcessingTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Declares a subscription, as a declarative Subscription resource does.</summary>
    public void Subscribe(string topic, Uri route, string? deadLetterTopic = null, string pubSubName = "pubsub") =>
        Add(new FakeSubscription(pubSubName, topic, route, deadLetterTopic));

    /// <summary>Every subscription, in the order they were added.</summary>
    public IReadOnlyList<FakeSubscription> Subscriptions => [.. _subscriptions.Values.SelectMany(s => s.Items)];

    /// <summary>
    /// Reads the app's programmatic subscriptions as daprd does at start (<c>GetSubscriptionsHTTP</c>): a JSON array
    /// of <c>{pubsubname, topic, route | routes.default, deadLetterTopic}</c>; <c>routes.default</c> wins over
    /// <c>route</c>; an entry with no route is dropped; 404 means none.
    /// </summary>
    public async Task<IReadOnlyList<FakeSubscription>> LoadFromAppAsync(Uri appBase, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(appBase);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(appBase, "/dapr/subscribe"));
        if (appApiToken is not null)
        {
            request.Headers.TryAddWithoutValidation("dapr-api-token", appApiToken);
        }

        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        response.EnsureSuccessStatusCode();
        var loaded = new List<FakeSubscription>();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        foreach (var entry in document.RootElement.EnumerateArray())
        {
            var route = entry.TryGetProperty("routes", out var routes) && routes.TryGetProperty("default", out var d) ? d.GetString()
                : entry.TryGetProperty("route", out var r) ? r.GetString()
                : null;
            if (string.IsNullOrEmpty(route))
            {
                continue;
            }

            var subscription = new FakeSubscription(
                entry.GetProperty("pubsubname").GetString()!,
                entry.GetProperty("topic").GetString()!,
                new Uri(appBase, route),
                entry.TryGetProperty("deadLetterTopic", out var dead) && dead.GetString() is { Length: > 0 } topic ? topic : null);
            Add(subscription);
            loaded.Add(subscription);
        }

        return loaded;
    }

    /// <summary>
    /// Publishes an event: records it and starts delivering it to every subscription of its topic on its component
    /// (daprd keys subscriptions by component and topic: an event published on another component's topic of the same
    /// name reaches no one, and nothing says so).
    /// </summary>
    public void Publish(PublishedEvent published)
    {
        ArgumentNullException.ThrowIfNull(published);
        Published.Enqueue(published);
        if (_subscriptions.TryGetValue(published.Topic, out var subscriptions))
        {
            foreach (var subscription in subscriptions.Items.Where(s => string.Equals(s.PubSubName, published.PubSubName, StringComparison.Ordinal)))
            {
                _deliveries.Add(DeliverAsync(published, subscription));
            }
        }
    }

    /// <summary>
    /// postman/http.Deliver: a 2xx is read as <c>{"status": …}</c> (empty or unreadable body, "" and SUCCESS are
    /// success, RETRY and any unknown string retry, DROP drops); 404 drops; any other status retries.
    /// </summary>
    public static DeliveryOutcome Classify(HttpStatusCode status, string body)
    {
        if (status == HttpStatusCode.NotFound)
        {
            return DeliveryOutcome.Drop;
        }

        if ((int)status is < 200 or > 299)
        {
            return DeliveryOutcome.Retry;
        }

        string? answer;
        try
        {
            answer = body.Length == 0 ? null : JsonDocument.Parse(body).RootElement is { ValueKind: JsonValueKind.Object } root && root.TryGetProperty("status", out var s) ? s.GetString() : null;
        }
        catch (JsonException)
        {
            return DeliveryOutcome.Success; // "skipping status check due to error parsing result from pub/sub event"
        }

        return answer switch
        {
            null or "" or "SUCCESS" => DeliveryOutcome.Success,
            "DROP" => DeliveryOutcome.Drop,
            _ => DeliveryOutcome.Retry, // "RETRY", and every unknown status
        };
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_deliveries).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _http.Dispose();
        _stopping.Dispose();
    }

    private void Add(FakeSubscription subscription) =>
        _subscriptions.AddOrUpdate(subscription.Topic, _ => new([subscription]), (_, existing) => new([.. existing.Items, subscription]));

    private async Task DeliverAsync(PublishedEvent published, FakeSubscription subscription)
    {
        var token = _stopping.Token;
        try
        {
            var outcome = DeliveryOutcome.Retry;
            for (var attempt = 1; attempt <= MaxDeliveryAttempts && outcome == DeliveryOutcome.Retry; attempt++)
            {
                if (attempt > 1)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, token).ConfigureAwait(false);
                }

                outcome = await AttemptAsync(published, subscription, token).ConfigureAwait(false);
            }

            if (outcome == DeliveryOutcome.Success)
            {
                return;
            }

            if (subscription.DeadLetterTopic is { } deadLetter)
            {
                var dead = published with { Topic = deadLetter };
                DeadLettered.Enqueue(dead);
                Publish(dead);
            }
            else if (outcome == DeliveryOutcome.Retry)
            {
                Lost.Enqueue(published);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>One POST; if it takes longer than <see cref="ProcessingTimeout"/>, the event is claimed and delivered again meanwhile.</summary>
    private async Task<DeliveryOutcome> AttemptAsync(PublishedEvent published, FakeSubscription subscription, CancellationToken token)
    {
        if (published.ExpiresAt is { } expiresAt && TimeProvider.System.GetUtcNow() > expiresAt)
        {
            // subscription.go: an expired CloudEvent is dropped (to the dead-letter topic when there is one), never POSTed.
            Expired.Enqueue(published);
            if (subscription.DeadLetterTopic is { } deadLetter)
            {
                Publish(published with { Topic = deadLetter, ExpiresAt = null });
            }

            return DeliveryOutcome.Success;
        }

        var post = PostAsync(published, subscription, token);
        if (await Task.WhenAny(post, Task.Delay(ProcessingTimeout, TimeProvider.System, token)).ConfigureAwait(false) != post)
        {
            // Still pending after processingTimeout: XCLAIM hands it to a consumer again.
            _deliveries.Add(DeliverAsync(published, subscription));
        }

        var outcome = await post.ConfigureAwait(false);
        Attempts.Enqueue((published.Topic, outcome));
        return outcome;
    }

    private async Task<DeliveryOutcome> PostAsync(PublishedEvent published, FakeSubscription subscription, CancellationToken token)
    {
        var envelope = new JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = Guid.NewGuid().ToString(),
            ["source"] = "fake-sidecar",
            ["type"] = "com.dapr.event.sent",
            ["topic"] = published.Topic,
            ["pubsubname"] = published.PubSubName,
        };
        // components-contrib's NewCloudEventsEnvelope: no content type is text/plain; JSON is embedded as JSON (as a string
        // when it does not parse), octet-stream as data_base64, anything else as a string.
        var contentType = string.IsNullOrEmpty(published.ContentType) ? "text/plain" : published.ContentType;
        envelope["datacontenttype"] = contentType;
        var mediaType = contentType.Split(';')[0].Trim();
        if (mediaType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                envelope["data"] = JsonNode.Parse(published.Data);
            }
            catch (System.Text.Json.JsonException)
            {
                envelope["data"] = Encoding.UTF8.GetString(published.Data);
            }
        }
        else if (mediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
        {
            envelope["data_base64"] = Convert.ToBase64String(published.Data);
        }
        else
        {
            envelope["data"] = Encoding.UTF8.GetString(published.Data);
        }

        if (published.ExpiresAt is { } expiration)
        {
            envelope["expiration"] = expiration.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Route)
        {
            Content = new StringContent(envelope.ToJsonString(), Encoding.UTF8, "application/cloudevents+json"),
        };
        if (appApiToken is not null)
        {
            request.Headers.TryAddWithoutValidation("dapr-api-token", appApiToken);
        }

        try
        {
            using var response = await _http.SendAsync(request, token).ConfigureAwait(false);
            return Classify(response.StatusCode, await response.Content.ReadAsStringAsync(token).ConfigureAwait(false));
        }
        catch (HttpRequestException)
        {
            return DeliveryOutcome.Retry; // rterrors.NewRetriable: the app could not be reached
        }
    }

    private sealed record ImmutableSubscriptions(IReadOnlyList<FakeSubscription> Items);
}
