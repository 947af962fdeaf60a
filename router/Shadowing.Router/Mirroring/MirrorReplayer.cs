using System.Globalization;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Router.Metrics;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// The pub/sub transport's far end: subscribes to <c>mirror.{service}</c> for every service whose policy says
/// <c>transport: PubSub</c>, and replays each envelope to the shadows it names, after the policy's time shift, no
/// faster than its rate limit, and as often as amplification asks (safe requests only). An envelope seen before
/// (same id: a redelivery) is dropped; one that expired before it could be replayed too. Outcomes are published as
/// for direct copies.
/// </summary>
/// <remarks>
/// Envelopes wait in memory (at most <see cref="MirroringOptions.ReplayCapacity"/>, and their bodies within the
/// <see cref="MirrorMemory"/> budget while they wait; beyond either they are dropped and counted): a
/// router that stops loses the ones waiting, which a mirror may do. Targets are looked up again when an envelope is
/// replayed, so a shadow that lost <c>dataIsolated</c> or was retired meanwhile gets no copy.
/// </remarks>
internal sealed partial class MirrorReplayer(
    IEventBus bus,
    RoutingTableCache cache,
    MirrorSender sender,
    RouterMetrics metrics,
    IOptions<RouterOptions> options,
    TimeProvider time,
    IRandomSource random,
    MirrorMemory memory,
    ILogger<MirrorReplayer> logger) : BackgroundService
{
    /// <summary>How often subscriptions follow the routing tables.</summary>
    public static TimeSpan SyncInterval { get; } = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    /// <summary>How long an envelope's id is remembered at most (or until it expires): redeliveries come within it.</summary>
    public static TimeSpan SeenFor { get; } = TimeSpan.FromMinutes(10);


    private readonly PriorityQueue<Pending, DateTimeOffset> _waiting = new();
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private readonly Queue<(string Id, DateTimeOffset Until)> _seenOrder = new(); // _seen's entries, oldest first
    private readonly Dictionary<string, IDisposable> _subscriptions = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, ArrivalRate> _arrivals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (DateTimeOffset Due, TimeSpan Interval)> _buckets = new(StringComparer.Ordinal); // per service/target: when its next send is due
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly SemaphoreSlim _sending = new(options.Value.Mirroring.Senders);
    private readonly int _capacity = options.Value.Mirroring.ReplayCapacity;

    // Ids remembered at most, ten times the envelopes that may wait (100,000 by default, about 10 MB), the oldest forgotten
    // first past it: at thousands of envelopes a second, ten minutes of ids grew outside the memory budget, and a
    // redelivery that comes after its id was forgotten is replayed once more at worst.
    private readonly int _maxSeen = 10 * options.Value.Mirroring.ReplayCapacity;
    private long _passes;
    private long _waitingBytes; // under _lock: the bodies of envelopes waiting, at most half the mirror's memory budget

    /// <summary>Services whose mirror topic this router subscribes to now.</summary>
    public IReadOnlyCollection<string> Subscribed
    {
        get
        {
            lock (_lock)
            {
                return [.. _subscriptions.Keys];
            }
        }
    }

    /// <summary>Times an envelope was taken from the queue to be replayed (again, after a rate limit held it back).</summary>
    internal long Passes => Interlocked.Read(ref _passes);

    /// <summary>Envelope ids remembered to drop redeliveries.</summary>
    internal int RememberedIds
    {
        get
        {
            lock (_lock)
            {
                return _seen.Count;
            }
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Sync();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var subscription in _subscriptions.Values)
            {
                subscription.Dispose();
            }

            _subscriptions.Clear();
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _arrived.Dispose();
        _sending.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Takes one envelope delivered on <paramref name="service"/>'s topic: drops it when it names another service, expired or
    /// seen before, else queues it for its replay time.
    /// </summary>
    internal Task AcceptAsync(MirroredRequest envelope, string service)
    {
        var now = time.GetUtcNow();
        if (!string.Equals(envelope.Service, service, StringComparison.OrdinalIgnoreCase))
        {
            // Whoever can publish on one service's topic must not reach another service's shadows (one that mirrors
            // directly never subscribed) or production endpoints (noise copies), nor grow the metrics by a label per name.
            metrics.MirrorDropped(service, "malformed");
            return Task.CompletedTask;
        }

        if (now > envelope.ExpiresAt)
        {
            metrics.MirrorDropped(envelope.Service, "expired");
            return Task.CompletedTask;
        }

        var shift = cache.Current.Services.TryGetValue(envelope.Service, out var routes) && routes.Table.Mirror is { } policy ? policy.TimeShift : TimeSpan.Zero;
        lock (_lock)
        {
            if (_seen.ContainsKey(envelope.Id))
            {
                metrics.MirrorDropped(envelope.Service, "duplicate");
                return Task.CompletedTask;
            }

            if (_waiting.Count >= _capacity)
            {
                metrics.MirrorDropped(envelope.Service, "replay_full");
                return Task.CompletedTask;
            }

            var bytes = HeldBytes(envelope);
            if (_waitingBytes + bytes > memory.Limit / 2 || !memory.TryTake(bytes))
            {
                metrics.MirrorDropped(envelope.Service, "memory_limit");
                return Task.CompletedTask;
            }

            _waitingBytes += bytes;

            // Only an envelope taken is remembered (a dropped one's redelivery may be taken), and not for longer than
            // redeliveries come: ids kept until a long time to live ran out grew without bound outside the memory budget.
            var until = envelope.ExpiresAt < now + SeenFor ? envelope.ExpiresAt : now + SeenFor;
            _seen[envelope.Id] = until;
            _seenOrder.Enqueue((envelope.Id, until));
            ForgetOldest(DateTimeOffset.MinValue);
            // Never later than the time shift from now: an envelope claiming a receipt time ahead would wait, holding its
            // place and memory, until then.
            _waiting.Enqueue(new Pending(envelope), (envelope.ReceivedAt < now ? envelope.ReceivedAt : now) + shift);
        }

        _arrived.Release();
        return Task.CompletedTask;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextSync = time.GetUtcNow() + SyncInterval;
        Task? arrival = null; // kept across waits: see BackgroundLoop.SignalOrDelayAsync
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            if (now >= nextSync)
            {
                Sync();
                Forget(now);
                nextSync = now + SyncInterval;
            }

            Pending? due = null;
            var wait = nextSync - now;
            lock (_lock)
            {
                if (_waiting.TryPeek(out _, out var at))
                {
                    if (at <= now)
                    {
                        due = _waiting.Dequeue();
                        _waitingBytes -= HeldBytes(due.Envelope);
                    }
                    else if (at - now < wait)
                    {
                        wait = at - now;
                    }
                }
            }

            if (due is null)
            {
                arrival ??= _arrived.WaitAsync(stoppingToken);
                if (await BackgroundLoop.SignalOrDelayAsync(arrival, wait, time, stoppingToken).ConfigureAwait(false))
                {
                    arrival = null;
                }

                continue;
            }

            DateTimeOffset? resumeAt = null;
            try
            {
                await BackgroundLoop.RunOnceAsync("mirror-replayer", async ct => resumeAt = await ReplayAsync(due, ct).ConfigureAwait(false), LogReplayFailed, stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                if (resumeAt is { } at)
                {
                    // Held back by its target's rate limit: the rest waits in the queue, so it holds up no other service's.
                    lock (_lock)
                    {
                        _waitingBytes += HeldBytes(due.Envelope);
                        _waiting.Enqueue(due, at);
                    }
                }
                else
                {
                    memory.Give(HeldBytes(due.Envelope));
                }
            }
        }
    }

    /// <summary>
    /// Sends one envelope to its targets, as many times as the policy asks, within its rate: returns when to go on when a
    /// target's rate limit holds the rest back, null when it is done.
    /// </summary>
    private async Task<DateTimeOffset?> ReplayAsync(Pending pending, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _passes);
        var envelope = pending.Envelope;
        var now = time.GetUtcNow();
        if (now > envelope.ExpiresAt)
        {
            metrics.MirrorDropped(envelope.Service, "expired");
            return null;
        }

        if (!cache.Current.Services.TryGetValue(envelope.Service, out var routes) || routes.Mirror is not { } plan)
        {
            metrics.MirrorDropped(envelope.Service, "no_policy");
            return null;
        }

        var safe = MirrorPlan.IsSafe(MirrorPlan.EffectiveMethod(envelope.Method, envelope.Headers));
        var eligible = safe ? plan.SafeTargets : plan.IsolatedTargets;
        var targets = eligible.Where(t => envelope.Targets.Contains(t.Id, StringComparer.Ordinal)).ToArray();
        if (targets.Length == 0)
        {
            metrics.MirrorDropped(envelope.Service, "no_target");
            return null;
        }

        if (!IsWellFormed(envelope))
        {
            // Whoever can publish on the topic must not make the router send its copies (and its dapr-api-token) outside
            // the shadow's own paths: a relative path, dot segments or a query that is not one would be resolved away.
            metrics.MirrorDropped(envelope.Service, "malformed");
            return null;
        }

        // The policy as it is now, applied again: one tightened since the envelope was published holds for it too.
        var policy = plan.Policy;
        var headers = MirrorJob.CopyHeaders(envelope.Headers, policy);
        if (MirrorJob.CopyBody(envelope.Body, envelope.Headers.FirstOrDefault(h => h.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault(), headers, policy) is not { } body)
        {
            metrics.MirrorDropped(envelope.Service, "body_not_stripped");
            return null;
        }

        var copies = pending.Copies ??= safe ? Copies(envelope.Service, policy, now) : 1;
        if (copies == 0)
        {
            // Thinned to targetRatePerSecond: counted, and no production-noise copy either (it would have no shadow
            // outcome to be set against).
            metrics.MirrorDropped(envelope.Service, "paced");
            return null;
        }

        var copy = new CopyRequest(
            envelope.Service,
            envelope.Id,
            envelope.Method,
            MirrorJob.CopyPath(envelope.Path),
            envelope.RawPath is null ? null : MirrorJob.CopyPath(envelope.RawPath),
            MirrorJob.CopyQuery(new Microsoft.AspNetCore.Http.QueryString(envelope.Query.Length == 0 ? null : envelope.Query), policy),
            headers,
            body,
            envelope.ReceivedAt,
            envelope.TraceParent ?? MirrorJob.LinkedTraceParent(default, default),
            envelope.Production,
            envelope.ProductionFingerprint,
            FingerprintSalt: envelope.Id,
            policy.Timeout,
            policy.MaxBodyBytes,
            plan.DiffIgnore);
        // Each (replay, target) in order, from where a rate limit stopped the last pass. The targets are looked up again at
        // each pass; if they changed meanwhile, the count of sends done is taken against the new list.
        for (; pending.Sent < copies * targets.Length; pending.Sent++)
        {
            var (i, target) = (pending.Sent / targets.Length, targets[pending.Sent % targets.Length]);
            if (i > 0 && !plan.TakesReplays(target))
            {
                continue;
            }

            var key = envelope.Service + "/" + target.Id;
            if (pending.ReservedFor == key)
            {
                pending.ReservedFor = null; // woken at the slot it reserved
            }
            else if (policy.RatePerSecond is { } rate)
            {
                now = time.GetUtcNow();
                switch (Reserve(key, rate, now, envelope.ExpiresAt))
                {
                    case null:
                        metrics.MirrorDropped(envelope.Service, "expired"); // this target's slot would come after it expires
                        continue;
                    case { } slot when slot > now:
                        // Back in the queue once, at a slot of its own: envelopes behind a limit go in order, and none is
                        // looked at again before its turn.
                        pending.ReservedFor = key;
                        return slot;
                }
            }

            // Each replay is an outcome of its own ({id}#{i}): outcomes are kept once per request id (a redelivery is
            // the same outcome), so replays sharing the id would count once for warm-up, and only the fastest be judged.
            var replay = i == 0 ? copy : copy with { Id = string.Create(CultureInfo.InvariantCulture, $"{copy.Id}{MirrorOutcome.ReplaySeparator}{i}") };
            await SendInBackgroundAsync(() => sender.SendAsync(replay, target, OutcomeKind.Shadow, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        // Production noise only for a safe request (checked here as the router checks it, whoever published the envelope: a
        // write sent to a second production endpoint is a write done twice), and only to an endpoint the router would send
        // production traffic to now: never more load on one it ejected or found unhealthy since the request came (the
        // envelope may have waited its time shift).
        if (safe && envelope.Secondary is { } secondaryId && routes.Production.FirstOrDefault(p => p.Id == secondaryId) is { } secondary
            && secondary.Runtime.Health.IsAvailable(time.GetUtcNow()))
        {
            await SendInBackgroundAsync(() => sender.SendAsync(copy, secondary, OutcomeKind.ProductionNoise, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>What a waiting envelope holds of the mirror's memory budget: its bodies.</summary>
    private static long HeldBytes(MirroredRequest envelope) => envelope.Body.Length + (envelope.ProductionFingerprint?.Length ?? 0L);

    /// <summary>Starts a send once a sender is free and does not wait for it: at most <see cref="MirroringOptions.Senders"/> at once.</summary>
    private async Task SendInBackgroundAsync(Func<Task> start, CancellationToken cancellationToken)
    {
        await _sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        Task send;
        try
        {
            send = start();
        }
        catch
        {
            _sending.Release();
            throw;
        }

        _ = send.ContinueWith(
            (t, state) =>
            {
                ((SemaphoreSlim)state!).Release();
                if (t.Exception is { } error)
                {
                    LogReplayFailed(error.GetBaseException());
                }
            },
            _sending,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>How many times to replay a safe copy: the policy's amplification, or what paces it to its target rate.</summary>
    private int Copies(string service, MirrorPolicy policy, DateTimeOffset now)
    {
        if (policy.TargetRatePerSecond is not { } target)
        {
            return policy.Amplify;
        }

        double observed;
        lock (_lock)
        {
            if (!_arrivals.TryGetValue(service, out var arrivals))
            {
                arrivals = new ArrivalRate(now);
                _arrivals[service] = arrivals;
            }

            observed = arrivals.Arrived(now);
        }

        var factor = Math.Min(100, target / observed);
        var whole = (int)Math.Floor(factor);
        return whole + (random.NextDouble() < factor - whole ? 1 : 0);
    }

    /// <summary>
    /// Takes one send of the target's rate: the time it may go (now, or a later slot reserved for it), or null, taking
    /// nothing, when that slot would come after <paramref name="expiresAt"/>. A token bucket of a second's worth (at least
    /// one) refilled at the rate, kept as the time its next send is due (GCRA), so each send held back gets a slot of its
    /// own; a faster rate starts again from now.
    /// </summary>
    private DateTimeOffset? Reserve(string key, double perSecond, DateTimeOffset now, DateTimeOffset expiresAt)
    {
        var interval = TimeSpan.FromSeconds(Math.Min(1 / perSecond, 86_400)); // a rate a table stored before its floor may have
        var burst = interval * (Math.Max(1, perSecond) - 1);
        lock (_lock)
        {
            // A faster rate starts again from now; a slower one after the slots already given.
            var due = _buckets.TryGetValue(key, out var bucket) && bucket.Interval <= interval && bucket.Due > now ? bucket.Due : now;
            var at = due - burst > now ? due - burst : now;
            if (at > expiresAt)
            {
                return null;
            }

            _buckets[key] = (due + interval, interval);
            return at;
        }
    }

    /// <summary>Subscribes to the mirror topic of every service that mirrors through pub/sub, and leaves the others.</summary>
    private void Sync()
    {
        var wanted = cache.Current.Services.Values
            .Where(r => r.Table.Mirror is { Enabled: true, Transport: MirrorTransport.PubSub })
            .Select(r => r.Service)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        lock (_lock)
        {
            foreach (var gone in _subscriptions.Keys.Where(s => !wanted.Contains(s)).ToList())
            {
                _subscriptions.Remove(gone, out var subscription);
                subscription!.Dispose();
            }

            foreach (var service in wanted.Where(s => !_subscriptions.ContainsKey(s)))
            {
                _subscriptions[service] = bus.Subscribe<MirroredRequest>(Topics.Mirror(service), "router-mirror", (envelope, _) => AcceptAsync(envelope, service));
                LogSubscribed(service, Topics.Mirror(service));
            }
        }
    }

    /// <summary>Forgets the ids of envelopes that have expired: a redelivery of one of those is dropped as expired anyway.</summary>
    private void Forget(DateTimeOffset now)
    {
        lock (_lock)
        {
            ForgetOldest(now);
        }
    }

    /// <summary>
    /// Under <see cref="_lock"/>: forgets ids from the oldest remembered while they are past <paramref name="now"/> or
    /// more than ten times <see cref="MirroringOptions.ReplayCapacity"/> are kept. In arrival order, so an id kept shorter (its envelope expiring sooner)
    /// behind a longer one waits for it; the count bound holds either way.
    /// </summary>
    private void ForgetOldest(DateTimeOffset now)
    {
        while (_seenOrder.TryPeek(out var oldest) && (oldest.Until < now || _seenOrder.Count > _maxSeen))
        {
            _seenOrder.Dequeue();
            if (_seen.TryGetValue(oldest.Id, out var until) && until == oldest.Until)
            {
                _seen.Remove(oldest.Id);
            }
        }
    }

    /// <summary>Whether an envelope's path and query are ones the router itself would have published.</summary>
    /// A decoded path may hold '?' or '#' (a client's %3F): the copy's URL encodes them again; the raw path is used as it is.
    internal static bool IsWellFormed(MirroredRequest envelope) =>
        (envelope.Path.Length == 0 || envelope.Path[0] == '/') // empty: the service's root
        && !Forwarding.ServiceForwarder.HasDotSegment(envelope.Path)
        && (envelope.RawPath is null
            || (envelope.RawPath.StartsWith('/') && envelope.RawPath.AsSpan().IndexOfAny('?', '#', '\\') < 0 && !Forwarding.ServiceForwarder.HasDotSegment(Uri.UnescapeDataString(envelope.RawPath))))
        && (envelope.Query.Length == 0 || envelope.Query[0] == '?');

    [LoggerMessage(EventId = 81, Level = LogLevel.Warning, Message = "Replaying a mirrored copy failed; it is dropped")]
    private partial void LogReplayFailed(Exception error);

    [LoggerMessage(EventId = 82, Level = LogLevel.Information, Message = "Replaying mirrored requests of service {Service} from topic {Topic}")]
    private partial void LogSubscribed(string service, string topic);

    /// <summary>An envelope waiting for its replay, and how far its replay has gone when a rate limit held the rest back.</summary>
    private sealed class Pending(MirroredRequest envelope)
    {
        public MirroredRequest Envelope { get; } = envelope;

        /// <summary>Replays of it, fixed at its first pass (pacing to a target rate draws it at random).</summary>
        public int? Copies { get; set; }

        /// <summary>(Replay, target) sends done.</summary>
        public int Sent { get; set; }

        /// <summary>The target (service/target) whose rate has a slot reserved for the next send, which it is waiting for.</summary>
        public string? ReservedFor { get; set; }
    }

    /// <summary>The arrival rate of a service's safe copies, per second: the last full 10 s window, or the current one until there is one.</summary>
    private sealed class ArrivalRate(DateTimeOffset since)
    {
        private DateTimeOffset _windowStart = since;
        private double _count;
        private double _rate;

        public double Arrived(DateTimeOffset now)
        {
            _count++;
            var elapsed = (now - _windowStart).TotalSeconds;
            if (elapsed >= 10)
            {
                _rate = _count / elapsed;
                _count = 0;
                _windowStart = now;
            }

            return Math.Max(_rate > 0 ? _rate : _count / Math.Max(1, elapsed), 1e-3);
        }
    }
}
