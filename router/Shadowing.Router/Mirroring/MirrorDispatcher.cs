using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Router.Metrics;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// The mirror's queue: jobs are enqueued after production's response was sent, into a bounded channel drained by a
/// fixed number of senders; a full channel drops the job and counts it, so a slow or hung shadow can never make the
/// router wait or grow. Direct jobs are sent to each target (and to a second production endpoint when chosen);
/// pub/sub jobs are published on <c>mirror.{service}</c> for the replayer.
/// </summary>
internal sealed partial class MirrorDispatcher : BackgroundService
{
    private readonly Channel<MirrorJob> _queue;
    private readonly MirrorSender _sender;
    private readonly IEventBus _bus;
    private readonly RouterMetrics _metrics;
    private readonly MirroringOptions _options;
    private readonly ILogger<MirrorDispatcher> _logger;
    private readonly TimeProvider _time;
    private readonly RoutingTableCache _cache;
    private readonly string _idPrefix;
    private readonly Forwarding.LogGate _publishFailures = new();
    private long _sequence;

    public MirrorDispatcher(MirrorSender sender, IEventBus bus, RoutingTableCache cache, RouterMetrics metrics, IOptions<RouterOptions> options, IRandomSource random, MirrorMemory memory, IMeterFactory meterFactory, TimeProvider time, ILogger<MirrorDispatcher> logger)
    {
        Memory = memory;
        _time = time;
        _cache = cache;
        _idPrefix = string.Concat(random.Next(int.MaxValue).ToString("x8", System.Globalization.CultureInfo.InvariantCulture), random.Next(int.MaxValue).ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
        var meter = meterFactory.Create(RouterMetrics.MeterName);
        meter.CreateObservableGauge("shadowing.mirror.queued", () => Queued, "{copy}", "Mirrored requests waiting to be sent.");
        meter.CreateObservableGauge("shadowing.mirror.buffered", () => memory.Held, "By", "Bytes of bodies held for mirroring: captured, queued, being compared or waiting for replay.");
        _sender = sender;
        _bus = bus;
        _metrics = metrics;
        _options = options.Value.Mirroring;
        _logger = logger;
        _queue = Channel.CreateBounded<MirrorJob>(new BoundedChannelOptions(_options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>The budget every capture of a mirrored body is taken from.</summary>
    public MirrorMemory Memory { get; }

    /// <summary>Jobs waiting now.</summary>
    public int Queued => _queue.Reader.Count;

    /// <summary>The queue is full now: a copy decided now would be dropped, so nothing of it need be captured.</summary>
    public bool IsFull => _queue.Reader.Count >= _options.QueueCapacity;

    /// <summary>A new copy id: unique across routers (a random prefix per process) and stable across its replays.</summary>
    public string NextId() => string.Concat(_idPrefix, "-", Interlocked.Increment(ref _sequence).ToString("x", System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Counts a mirrored request that was not queued, and why.</summary>
    public void Dropped(string service, string reason) => _metrics.MirrorDropped(service, reason);

    /// <summary>Queues a job; when the queue is full the job is dropped (and counted), never waited for.</summary>
    public bool TryEnqueue(MirrorJob job)
    {
        if (_queue.Writer.TryWrite(job))
        {
            return true;
        }

        _metrics.MirrorDropped(job.Plan.Service, "queue_full");
        job.Dispose();
        return false;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, _options.Senders).Select(_ => Task.Run(() => SendLoopAsync(stoppingToken), CancellationToken.None)));

    private async Task SendLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                using (job)
                {
                    await BackgroundLoop.RunOnceAsync("mirror-sender", ct => SendAsync(job, ct), LogSendFailed, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping: queued copies are dropped, which is what a mirror may do
        }
    }

    private async Task SendAsync(MirrorJob job, CancellationToken cancellationToken)
    {
        var policy = job.Plan.Policy;
        if (MirrorJob.CopyBody(job.RequestBody.Written, job.ContentType, job.Headers, policy) is not { } body)
        {
            _metrics.MirrorDropped(job.Plan.Service, "body_not_stripped");
            return;
        }

        var production = job.ProductionAnswer();
        var productionBody = job.DecodedProductionBody(policy.MaxBodyBytes);
        if (policy.Transport == MirrorTransport.PubSub)
        {
            var envelope = new MirroredRequest
            {
                Id = job.Id,
                Service = job.Plan.Service,
                Method = job.Method,
                Path = job.Path,
                RawPath = job.RawPath,
                Query = job.Query,
                Headers = job.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase),
                Body = body.ToArray(),
                ReceivedAt = job.ReceivedAt,
                Targets = [.. job.Targets.Select(t => t.Id)],
                Secondary = job.Secondary?.Id,
                Production = production with { BodyDigest = null }, // unsalted, one table would look up short answers across envelopes
                ProductionFingerprint = productionBody is { } answered && AnswerFingerprint.Of(answered.Span, job.Id) is { } fingerprint
                    && fingerprint.Length <= policy.MaxBodyBytes ? fingerprint : null,
                ExpiresAt = job.ReceivedAt + policy.TimeToLive,
                TraceParent = job.TraceParent,
            };
            var timeToLive = envelope.ExpiresAt - _time.GetUtcNow();
            if (timeToLive <= TimeSpan.Zero)
            {
                _metrics.MirrorDropped(job.Plan.Service, "expired");
                return;
            }

            try
            {
                await _bus.PublishAsync(Topics.Mirror(job.Plan.Service), envelope, timeToLive, cancellationToken).ConfigureAwait(false);
            }
            catch (EventBusException ex)
            {
                // The bus is down: the copy is lost, which a mirror may do, but it is counted, and logged once a minute at most.
                _metrics.MirrorDropped(job.Plan.Service, "publish_failed");
                if (_publishFailures.TryPass(_time.GetTimestamp(), _time.TimestampFrequency * 60, out var heldBack))
                {
                    LogPublishFailed(ex, job.Plan.Service, heldBack);
                }

                return;
            }

            _metrics.MirrorCopy(job.Plan.Service, "pubsub", "published");
            return;
        }

        var copy = new CopyRequest(
            job.Plan.Service, job.Id, job.Method, job.Path, job.RawPath, job.Query, job.Headers, body, job.ReceivedAt, job.TraceParent,
            production, productionBody, FingerprintSalt: null, policy.Timeout, policy.MaxBodyBytes, job.Plan.DiffIgnore);
        // The targets as the routing table says now, not as it said when the request arrived: a copy that waited in the
        // queue behind a slow shadow must not reach a shadow retired since, or a write one that lost its own data since.
        var now = _cache.Current.Services.TryGetValue(job.Plan.Service, out var routes) && routes.Mirror is { } current
            ? (job.Safe ? current.SafeTargets : current.IsolatedTargets)
            : [];
        var targets = now.Where(t => job.Targets.Any(j => j.Id == t.Id)).ToList();
        if (targets.Count == 0)
        {
            _metrics.MirrorDropped(job.Plan.Service, "no_target");
            return;
        }

        // A target already holding its share of the senders gets no more: a slow shadow would otherwise take every sender,
        // fill the queue, and every service's copies be dropped with its own. (Any condition that let it take more while
        // the queue is short would let it take them all again the next time the queue runs dry.)
        var sends = new List<Task>(targets.Count + 1);
        foreach (var target in targets)
        {
            sends.Add(_sender.SendAsync(copy, target, OutcomeKind.Shadow, cancellationToken, shedWhenBusy: true));
        }

        // The second production endpoint too, as the replayer checks it: still in the table and one the router would send
        // production traffic to now (the copy may have waited while it was ejected or found unhealthy).
        if (job.Secondary is { } chosen && routes!.Production.FirstOrDefault(p => p.Id == chosen.Id) is { } secondary
            && secondary.Runtime.Health.IsAvailable(_time.GetUtcNow()))
        {
            sends.Add(_sender.SendAsync(copy, secondary, OutcomeKind.ProductionNoise, cancellationToken, shedWhenBusy: true));
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 80, Level = LogLevel.Warning, Message = "Sending a mirrored copy failed; it is dropped")]
    private partial void LogSendFailed(Exception error);

    [LoggerMessage(EventId = 85, Level = LogLevel.Warning, Message = "Could not publish a mirrored request of {Service}; it is dropped (counted as publish_failed; {HeldBack} more since the last line)")]
    private partial void LogPublishFailed(Exception error, string service, long heldBack);
}

/// <summary>Mirroring settings (section <c>Router:Mirroring</c>); the policy itself is per service, in the routing table.</summary>
public sealed class MirroringOptions
{
    /// <summary>Mirrored requests waiting to be sent; beyond it they are dropped and counted. Default 1,000.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>Senders draining the queue, each one copy (to all its targets) at a time. Default 8.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 256)]
    public int Senders { get; set; } = 8;

    /// <summary>
    /// Bytes of bodies the router may hold for mirroring at once (captures in flight and queued, answers being read,
    /// envelopes waiting for replay, those at most half); past it copies are dropped and counted as <c>memory_limit</c>. Default 128 MiB.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1L << 20, 1L << 40)]
    public long MaxBufferedBytes { get; set; } = 128L << 20;

    /// <summary>Pub/sub copies waiting for their time shift or rate; beyond it they are dropped and counted. Default 10,000.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 10_000_000)]
    public int ReplayCapacity { get; set; } = 10_000;

    /// <summary>
    /// How long the outcomes of copies are kept for validation: every 10 minutes the router deletes the outcome slots of
    /// each hour that ended longer ago. At least 2 hours (longer than any validation window should be). Default 1 day.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "02:00:00", "3650.00:00:00")]
    public TimeSpan OutcomeRetention { get; set; } = TimeSpan.FromDays(1);
}
