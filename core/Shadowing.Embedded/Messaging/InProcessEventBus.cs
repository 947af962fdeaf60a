using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Embedded.Messaging;

/// <summary>
/// In-process pub/sub for the embedded host: every subscriber has its own bounded queue and worker, so a slow
/// or failing subscriber never blocks another, nor the publisher: a message that finds a subscriber's queue full
/// (<see cref="InProcessEventBusOptions.QueueCapacity"/>) is recorded as a <see cref="DeadLetter"/> for that
/// subscriber and counted (<c>shadowing_bus_overflows_total</c>, meter <see cref="MeterName"/>). A failed
/// delivery is retried with exponential back-off (on the injected <see cref="TimeProvider"/>) up to
/// <see cref="InProcessEventBusOptions.MaxAttempts"/>, then dead-lettered too. Order is kept per subscriber.
/// </summary>
/// <remarks>
/// Payloads are serialized once at publish time and deserialized per subscriber, exactly like Dapr, so a
/// subscriber never shares an object with the publisher. Queues live in memory: messages still queued when
/// the process dies are lost, as with Dapr's in-memory pub/sub; everything that matters (routing tables,
/// metrics) is also in the state store.
/// </remarks>
public sealed partial class InProcessEventBus : IEventBus, IAsyncDisposable
{
    /// <summary>The meter of the bus's counters.</summary>
    public const string MeterName = "Shadowing.Embedded";

    private static readonly System.Diagnostics.Metrics.Meter Meter = new(MeterName);
    private static readonly System.Diagnostics.Metrics.Counter<long> OverflowCounter = Meter.CreateCounter<long>(
        "shadowing.bus.overflows", "{message}", "Messages dead-lettered because a subscriber's queue was full.");
    private static readonly System.Diagnostics.Metrics.Counter<long> DeadLetterCounter = Meter.CreateCounter<long>(
        "shadowing.bus.dead_letters", "{message}", "Messages dead-lettered, for any reason.");

    private readonly ConcurrentDictionary<string, ImmutableArray<Subscription>> _subscriptions = new(StringComparer.Ordinal);
    private readonly IStateStore _deadLetters;
    private readonly TimeProvider _time;
    private readonly InProcessEventBusOptions _options;
    private readonly ILogger<InProcessEventBus> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private long _sequence;
    private long _overflows;
    private int _disposed;

    /// <summary>Creates the bus; dead letters go to <paramref name="deadLetters"/>.</summary>
    public InProcessEventBus(IStateStore deadLetters, TimeProvider timeProvider, IOptions<InProcessEventBusOptions> options, ILogger<InProcessEventBus> logger)
    {
        _deadLetters = deadLetters ?? throw new ArgumentNullException(nameof(deadLetters));
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        _options = options?.Value ?? throw new ArgumentNullException(nameof(options));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>Messages dead-lettered because a subscriber's queue was full, since this bus was created.</summary>
    public long Overflows => Interlocked.Read(ref _overflows);

    /// <inheritdoc />
    public Task PublishAsync<T>(string topic, T data, CancellationToken cancellationToken = default) =>
        PublishAsync(topic, data, expiresAt: null);

    /// <inheritdoc />
    public Task PublishAsync<T>(string topic, T data, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeToLive, TimeSpan.Zero);
        return PublishAsync(topic, data, _time.GetUtcNow() + timeToLive);
    }

    private async Task PublishAsync<T>(string topic, T data, DateTimeOffset? expiresAt)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_subscriptions.TryGetValue(topic, out var subscribers) || subscribers.IsEmpty)
        {
            return; // Like a broker with no subscription: nobody asked for it (and nothing is serialized for nobody).
        }

        var now = _time.GetUtcNow();
        var id = string.Create(CultureInfo.InvariantCulture, $"{now:yyyyMMdd'T'HHmmssfff}-{Interlocked.Increment(ref _sequence):D8}");
        var message = new Message(id, topic, ShadowingJson.Serialize(data), now, expiresAt);

        foreach (var subscription in subscribers)
        {
            if (!subscription.TryEnqueue(message))
            {
                await OverflowAsync(subscription, message).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe<T>(string topic, string subscriber, Func<T, CancellationToken, Task> handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentException.ThrowIfNullOrWhiteSpace(subscriber);
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var subscription = new Subscription(this, topic, subscriber, (bytes, ct) => handler(ShadowingJson.Deserialize<T>(bytes.Span), ct));
        _subscriptions.AddOrUpdate(topic, _ => [subscription], (_, existing) => existing.Add(subscription));
        subscription.Start();
        return subscription;
    }

    /// <summary>Stops accepting messages, lets queued ones drain for <see cref="InProcessEventBusOptions.DrainTimeout"/>, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var all = _subscriptions.Values.SelectMany(s => s).ToArray();
        _subscriptions.Clear();
        foreach (var subscription in all)
        {
            subscription.Complete();
        }

        var drained = Task.WhenAll(all.Select(s => s.Worker));
        var timeout = Task.Delay(_options.DrainTimeout, _time);
        if (await Task.WhenAny(drained, timeout).ConfigureAwait(false) != drained)
        {
            LogDrainTimedOut(_options.DrainTimeout);
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await drained.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }

    private void Remove(Subscription subscription) =>
        _subscriptions.AddOrUpdate(subscription.Topic, _ => [], (_, existing) => existing.Remove(subscription));

    private TimeSpan Backoff(int failedAttempts)
    {
        var ticks = _options.InitialBackoff.Ticks * Math.Pow(2, Math.Min(failedAttempts - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(ticks, _options.MaxBackoff.Ticks));
    }

    private async Task DeliverAsync(Subscription subscription, Message message)
    {
        var token = _stopping.Token;
        for (var attempt = 1; ; attempt++)
        {
            if (message.ExpiresAt is { } expiresAt && _time.GetUtcNow() > expiresAt)
            {
                LogExpired(message.Topic, subscription.Name, message.Id);
                return; // as daprd does with an expired event: dropped, not delivered
            }

            try
            {
                await subscription.Handler(message.Data, token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                LogDroppedOnShutdown(message.Topic, subscription.Name, message.Id);
                return;
            }
            catch (Exception ex) when (ex is JsonException or UnprocessableMessageException)
            {
                // A payload that does not fit the subscriber's type never will, nor one its handler refused for good: no point retrying.
                await DeadLetterAsync(subscription, message, attempt, ex).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (attempt < _options.MaxAttempts)
            {
                var wait = Backoff(attempt);
                LogRetrying(ex, message.Topic, subscription.Name, message.Id, attempt, wait);
                try
                {
                    await Task.Delay(wait, _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    LogDroppedOnShutdown(message.Topic, subscription.Name, message.Id);
                    return;
                }
            }
            catch (Exception ex)
            {
                await DeadLetterAsync(subscription, message, attempt, ex).ConfigureAwait(false);
                return;
            }
        }
    }

    private Task OverflowAsync(Subscription subscription, Message message)
    {
        if (subscription.Closed)
        {
            return Task.CompletedTask; // unsubscribed while this publisher held the old list: nobody asked for it
        }

        Interlocked.Increment(ref _overflows);
        OverflowCounter.Add(1, new KeyValuePair<string, object?>("topic", message.Topic), new KeyValuePair<string, object?>("subscriber", subscription.Name));
        LogOverflow(message.Topic, subscription.Name, message.Id, _options.QueueCapacity);
        return StoreDeadLetterAsync(subscription, message, 0, $"the subscriber's queue was full ({_options.QueueCapacity} messages)");
    }

    private Task DeadLetterAsync(Subscription subscription, Message message, int attempts, Exception error)
    {
        LogDeadLettered(error, message.Topic, subscription.Name, message.Id, attempts);
        return StoreDeadLetterAsync(subscription, message, attempts, $"{error.GetType().Name}: {error.Message}");
    }

    private async Task StoreDeadLetterAsync(Subscription subscription, Message message, int attempts, string error)
    {
        DeadLetterCounter.Add(1, new KeyValuePair<string, object?>("topic", message.Topic), new KeyValuePair<string, object?>("subscriber", subscription.Name));
        var record = new DeadLetter
        {
            Id = message.Id,
            Topic = message.Topic,
            Subscriber = subscription.Name,
            Attempts = attempts,
            Error = error,
            PublishedAt = message.PublishedAt,
            DeadLetteredAt = _time.GetUtcNow(),
            Data = JsonDocument.Parse(message.Data).RootElement.Clone(),
        };
        try
        {
            await _deadLetters.SaveJsonAsync($"{StateKeys.DeadLetterPrefix}{message.Topic}/{subscription.Name}/{message.Id}", record).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StateStoreException or ObjectDisposedException)
        {
            // The payload in the log is the last record of the message; not a mirror envelope's, which carries a request's
            // body and query (logs carry none), and whose loss a mirror may afford.
            LogDeadLetterNotStored(ex, message.Topic, subscription.Name, message.Id, message.Topic.StartsWith(Topics.MirrorPrefix, StringComparison.Ordinal)
                ? "(a mirror envelope: not logged, it carries a request's body)"
                : System.Text.Encoding.UTF8.GetString(message.Data.Span));
        }
    }

    [LoggerMessage(EventId = 6, Level = LogLevel.Debug, Message = "Dropped expired {Topic} message {MessageId} for {Subscriber}")]
    private partial void LogExpired(string topic, string subscriber, string messageId);

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Delivery of {Topic} message {MessageId} to {Subscriber} failed (attempt {Attempt}); retrying in {Wait}")]
    private partial void LogRetrying(Exception error, string topic, string subscriber, string messageId, int attempt, TimeSpan wait);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Gave up delivering {Topic} message {MessageId} to {Subscriber} after {Attempts} attempts; dead-lettered")]
    private partial void LogDeadLettered(Exception error, string topic, string subscriber, string messageId, int attempts);

    [LoggerMessage(EventId = 3, Level = LogLevel.Critical, Message = "Could not store the dead letter of {Topic} message {MessageId} for {Subscriber}; payload: {Payload}")]
    private partial void LogDeadLetterNotStored(Exception error, string topic, string subscriber, string messageId, string payload);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "The queue of {Subscriber} on topic {Topic} is full ({Capacity} messages); message {MessageId} dead-lettered instead of waiting")]
    private partial void LogOverflow(string topic, string subscriber, string messageId, int capacity);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Shutting down: {Topic} message {MessageId} for {Subscriber} was not delivered")]
    private partial void LogDroppedOnShutdown(string topic, string subscriber, string messageId);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "In-process bus did not drain within {Timeout}; undelivered messages are dropped")]
    private partial void LogDrainTimedOut(TimeSpan timeout);

    private sealed record Message(string Id, string Topic, ReadOnlyMemory<byte> Data, DateTimeOffset PublishedAt, DateTimeOffset? ExpiresAt);

    private sealed class Subscription(InProcessEventBus bus, string topic, string name, Func<ReadOnlyMemory<byte>, CancellationToken, Task> handler) : IDisposable
    {
        private readonly Channel<Message> _queue = Channel.CreateBounded<Message>(new BoundedChannelOptions(bus._options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full; the bus dead-letters instead of waiting
        });

        private int _closed;

        public string Topic { get; } = topic;

        public string Name { get; } = name;

        public Func<ReadOnlyMemory<byte>, CancellationToken, Task> Handler { get; } = handler;

        public Task Worker { get; private set; } = Task.CompletedTask;

        public bool Closed => Volatile.Read(ref _closed) != 0;

        public void Start() => Worker = Task.Run(RunAsync);

        /// <summary>Queues the message unless the queue is full or closed; never waits.</summary>
        public bool TryEnqueue(Message message) => _queue.Writer.TryWrite(message) || Closed;

        public void Complete()
        {
            Volatile.Write(ref _closed, 1);
            _queue.Writer.TryComplete();
        }

        public void Dispose()
        {
            bus.Remove(this);
            Complete();
        }

        private async Task RunAsync()
        {
            await foreach (var message in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                if (bus._stopping.IsCancellationRequested)
                {
                    bus.LogDroppedOnShutdown(message.Topic, Name, message.Id);
                    continue;
                }

                await bus.DeliverAsync(this, message).ConfigureAwait(false);
            }
        }
    }
}
