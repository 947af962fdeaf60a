using System.Collections.Concurrent;
using System.Collections.Immutable;
using Dapr;
using Dapr.Client;
using Shadowing.Core.Messaging;
using Shadowing.Core.Serialization;

namespace Shadowing.Dapr.Messaging;

/// <summary>
/// <see cref="IEventBus"/> over Dapr pub/sub. Publishing goes through the sidecar as CloudEvents with the
/// payload serialized by <see cref="ShadowingJson"/>; subscriptions are served on <c>GET /dapr/subscribe</c>
/// (<see cref="DaprSubscriptions"/>, also declared in <c>components/subscriptions.yaml</c>) and delivered by Dapr
/// to <c>/events/{topic}</c>, which <see cref="DaprEventEndpoints.MapShadowingEvents"/> maps to the handlers
/// registered here.
/// Retries and dead-lettering are Dapr's (resiliency policy and <c>deadLetterTopic</c>).
/// </summary>
public sealed class DaprEventBus(DaprClient dapr, string pubSubName = DaprComponents.PubSub) : IEventBus
{
    private readonly ConcurrentDictionary<string, ImmutableArray<Handler>> _handlers = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Task PublishAsync<T>(string topic, T data, CancellationToken cancellationToken = default) =>
        PublishAsync(topic, data, metadata: null, cancellationToken);

    /// <inheritdoc />
    public Task PublishAsync<T>(string topic, T data, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        // daprd stamps the CloudEvent's expiration from ttlInSeconds and drops it undelivered after that.
        var seconds = Math.Max(1, (long)Math.Ceiling(timeToLive.TotalSeconds));
        return PublishAsync(topic, data, new Dictionary<string, string> { ["ttlInSeconds"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) }, cancellationToken);
    }

    private async Task PublishAsync<T>(string topic, T data, Dictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        var pubSub = DaprComponents.PubSubOf(topic, pubSubName);
        try
        {
            await dapr.PublishByteEventAsync(pubSub, topic, ShadowingJson.Serialize(data), "application/json", metadata, cancellationToken).ConfigureAwait(false);
        }
        catch (DaprException ex)
        {
            throw new EventBusException($"Publishing to topic '{topic}' on Dapr pub/sub '{pubSub}' failed: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe<T>(string topic, string subscriber, Func<T, CancellationToken, Task> handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentException.ThrowIfNullOrWhiteSpace(subscriber);
        ArgumentNullException.ThrowIfNull(handler);
        var registration = new Handler(subscriber, (json, ct) => handler(ShadowingJson.Deserialize<T>(json.Span), ct));
        _handlers.AddOrUpdate(topic, _ => [registration], (_, existing) => existing.Add(registration));
        return new Unsubscriber(() => _handlers.AddOrUpdate(topic, _ => [], (_, existing) => existing.Remove(registration)));
    }

    /// <summary>
    /// Runs every handler registered for <paramref name="topic"/> on one delivered payload. Returns false when
    /// none is registered. A handler's exception propagates so the endpoint can ask Dapr to retry.
    /// </summary>
    public async Task<bool> DispatchAsync(string topic, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (!_handlers.TryGetValue(topic, out var handlers) || handlers.IsEmpty)
        {
            return false;
        }

        foreach (var handler in handlers)
        {
            await handler.Invoke(data, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    private sealed record Handler(string Subscriber, Func<ReadOnlyMemory<byte>, CancellationToken, Task> Invoke);

    private sealed class Unsubscriber(Action unsubscribe) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                unsubscribe();
            }
        }
    }
}
