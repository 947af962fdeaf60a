using Shadowing.Core.Health;
using Shadowing.Core.Routing;
using Shadowing.Router.Metrics;

namespace Shadowing.Router.Routing;

/// <summary>
/// What the router knows about one endpoint over time: health, requests in flight, latency EWMA and the
/// current minute's traffic. It outlives routing-table snapshots, so a refresh does not forget health.
/// </summary>
internal sealed class EndpointRuntime
{
    private readonly TimeProvider _time;
    private readonly double _alpha;
    private readonly int _minSamples;
    private readonly double[] _warmUp;
    private int _inFlight;
    private int _mirrorInFlight;
    private int _mirrorTimeoutsInARow;
    private int _trafficSamples;
    private long _latencyEwmaBits = BitConverter.DoubleToInt64Bits(double.NaN);
    private readonly long _recheckTicks;
    private long _nextRecheck;

    public EndpointRuntime(string service, string id, string address, EndpointRole role, EndpointHealth health, TimeProvider time, double ewmaAlpha, int minSamples, TimeSpan latencyRecheck)
    {
        _recheckTicks = (long)(latencyRecheck.TotalSeconds * time.TimestampFrequency);
        Service = service;
        Id = id;
        Address = address;
        Role = role;
        Health = health;
        _time = time;
        _alpha = ewmaAlpha;
        _minSamples = Math.Max(1, minSamples);
        _warmUp = new double[_minSamples];
        Minutes = new MinuteAccumulators(service, id);
    }

    public string Service { get; }

    public string Id { get; }

    public string Address { get; }

    /// <summary>The role in the latest snapshot.</summary>
    public EndpointRole Role { get; set; }

    public EndpointHealth Health { get; }

    public MinuteAccumulators Minutes { get; }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// The latency EWMA, or null until the endpoint has answered <c>LatencyMinSamples</c> forwarded requests: a
    /// cold endpoint's first answers (JIT, connection set-up, cold caches) must not mark it overloaded before it
    /// has served anyone.
    /// </summary>
    public double? LatencyEwmaMs
    {
        get
        {
            if (Volatile.Read(ref _trafficSamples) < _minSamples)
            {
                return null;
            }

            var value = BitConverter.Int64BitsToDouble(Interlocked.Read(ref _latencyEwmaBits));
            return double.IsNaN(value) ? null : value;
        }
    }

    public EndpointLoad Load
    {
        get
        {
            var now = _time.GetUtcNow();
            return new(Health.IsAvailable(now), InFlight, LatencyEwmaMs, Health.IsEjectedForAnswersOnly(now));
        }
    }

    /// <summary>Reserves a slot unless <paramref name="maxConcurrency"/> requests are already in flight.</summary>
    public bool TryEnter(int? maxConcurrency)
    {
        while (true)
        {
            var current = Volatile.Read(ref _inFlight);
            if (maxConcurrency is { } max && current >= max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _inFlight, current + 1, current) == current)
            {
                Minutes.ObserveInFlight(_time.GetUtcNow(), current + 1);
                return true;
            }
        }
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>
    /// Whether the last <paramref name="stallAfter"/> mirror copies to this endpoint each waited out their timeout: it
    /// takes copies and never answers (hung, blackholed), so each would hold one of the senders every shadow shares.
    /// </summary>
    private bool MirrorStalled(int stallAfter) => Volatile.Read(ref _mirrorTimeoutsInARow) >= stallAfter;

    /// <summary>
    /// Reserves a mirror copy's send to this endpoint: while it answers, up to <paramref name="maxInFlight"/> copies at
    /// once (a slow shadow that still answers would otherwise hold every sender the shadows share, and other services'
    /// copies would wait behind its own until the queue dropped everyone's); once it has stalled, one copy at a time,
    /// which sees it answer again (and keeps a hung shadow's timeouts coming for validation to judge).
    /// </summary>
    public MirrorEntry TryEnterMirror(int stallAfter, int maxInFlight)
    {
        if (MirrorStalled(stallAfter))
        {
            return Interlocked.CompareExchange(ref _mirrorInFlight, 1, 0) == 0 ? MirrorEntry.Entered : MirrorEntry.Stalled;
        }

        while (true)
        {
            var current = Volatile.Read(ref _mirrorInFlight);
            if (current >= maxInFlight)
            {
                return MirrorEntry.Busy;
            }

            if (Interlocked.CompareExchange(ref _mirrorInFlight, current + 1, current) == current)
            {
                return MirrorEntry.Entered;
            }
        }
    }

    /// <summary>Ends a send reserved by <see cref="TryEnterMirror"/>: a copy that timed out adds to the run, any answer ends it.</summary>
    public void ExitMirror(bool timedOut)
    {
        Interlocked.Decrement(ref _mirrorInFlight);
        if (timedOut)
        {
            Interlocked.Increment(ref _mirrorTimeoutsInARow);
        }
        else
        {
            Volatile.Write(ref _mirrorTimeoutsInARow, 0);
        }
    }

    /// <summary>
    /// Folds the latency of a forwarded request into the EWMA. The first <c>LatencyMinSamples</c> answers only
    /// seed it, with their median, so that one cold answer does not weigh on the endpoint for long; that warm-up
    /// takes a lock, the steady state does not.
    /// </summary>
    public void ObserveLatency(double milliseconds)
    {
        if (Volatile.Read(ref _trafficSamples) >= _minSamples)
        {
            Fold(milliseconds);
            return;
        }

        lock (_warmUp)
        {
            if (_trafficSamples >= _minSamples)
            {
                Fold(milliseconds);
                return;
            }

            _warmUp[_trafficSamples] = milliseconds;
            if (_trafficSamples + 1 == _minSamples)
            {
                Array.Sort(_warmUp);
                Interlocked.Exchange(ref _latencyEwmaBits, BitConverter.DoubleToInt64Bits(_warmUp[_minSamples / 2]));
            }

            Volatile.Write(ref _trafficSamples, _trafficSamples + 1);
        }
    }

    /// <summary>The <c>maxLatencyMs</c> of the table the endpoint was last compiled from (what its samples are capped by).</summary>
    public double? LatencyLimit { get; set; }

    /// <summary>Forgets the latency judged so far: the endpoint starts cold again, its first answers seeding the EWMA.</summary>
    public void ResetLatency()
    {
        lock (_warmUp)
        {
            Volatile.Write(ref _trafficSamples, 0);
            Interlocked.Exchange(ref _latencyEwmaBits, BitConverter.DoubleToInt64Bits(double.NaN));
        }

        EndLatencyRecheck();
    }

    /// <summary>
    /// Whether a request may go to this endpoint although its latency is over its threshold: once per recheck interval,
    /// so that an endpoint that stopped getting traffic for being slow is seen to recover by the requests it is judged
    /// by (a probe's answer says nothing of their latency: folded in, probes pulled a slow endpoint back under its
    /// threshold every few seconds, and with probes off it never came back). No lock: one caller wins each interval.
    /// </summary>
    public bool TryRecheckLatency()
    {
        var now = _time.GetTimestamp();
        var next = Interlocked.Read(ref _nextRecheck);
        if (next == 0)
        {
            // Just found over: the first recheck is an interval from now.
            Interlocked.CompareExchange(ref _nextRecheck, now + _recheckTicks, 0);
            return false;
        }

        return now >= next && Interlocked.CompareExchange(ref _nextRecheck, now + _recheckTicks, next) == next;
    }

    /// <summary>Back under its threshold: the next time it goes over, its first recheck is an interval later.</summary>
    public void EndLatencyRecheck()
    {
        if (Interlocked.Read(ref _nextRecheck) != 0)
        {
            Interlocked.Exchange(ref _nextRecheck, 0);
        }
    }

    private void Fold(double milliseconds)
    {
        while (true)
        {
            var bits = Interlocked.Read(ref _latencyEwmaBits);
            var current = BitConverter.Int64BitsToDouble(bits);
            var next = double.IsNaN(current) ? milliseconds : (_alpha * milliseconds) + ((1 - _alpha) * current);
            if (Interlocked.CompareExchange(ref _latencyEwmaBits, BitConverter.DoubleToInt64Bits(next), bits) == bits)
            {
                return;
            }
        }
    }
}

/// <summary>What <see cref="EndpointRuntime.TryEnterMirror"/> decided for one copy.</summary>
internal enum MirrorEntry
{
    /// <summary>Reserved: send it, then <see cref="EndpointRuntime.ExitMirror"/>.</summary>
    Entered,

    /// <summary>Not sent: its last copies timed out and one is already on its way.</summary>
    Stalled,

    /// <summary>Not sent: as many copies as one endpoint may hold are on their way to it.</summary>
    Busy,
}
