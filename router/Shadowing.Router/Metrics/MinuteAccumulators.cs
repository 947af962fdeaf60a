using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Router.Metrics;

/// <summary>
/// One endpoint's traffic per UTC minute, accumulated on the request path and taken by
/// <see cref="MinuteRecorder"/> once the minute is over. Requests are filed under the minute they started in.
/// </summary>
/// <remarks>
/// The request path takes no lock: the newest minute is written with interlocked adds. The collector seals a minute
/// before reading it and waits for writers already inside; a writer that finds a minute sealed (a late answer for a
/// minute already collected) takes the lock and starts a fresh accumulator for it, which the next collection merges in.
/// </remarks>
internal sealed class MinuteAccumulators(string service, string endpointId)
{
    private static readonly TimeSpan OneMinute = TimeSpan.FromMinutes(1);
    private readonly Lock _lock = new();
    private readonly Dictionary<DateTimeOffset, Accumulator> _minutes = [];
    private Accumulator? _newest;

    /// <summary>Records a forwarded request that started at <paramref name="startedAt"/>.</summary>
    public void Record(DateTimeOffset startedAt, double latencyMs, bool error)
    {
        var accumulator = Enter(startedAt);
        accumulator.Add(latencyMs, error);
        accumulator.Exit();
    }

    /// <summary>Records a mirrored copy the endpoint answered (kept apart from its forwarded traffic).</summary>
    public void RecordMirror(DateTimeOffset startedAt, double latencyMs, bool error, bool compared, bool differing)
    {
        var accumulator = Enter(startedAt);
        accumulator.AddMirror(latencyMs, error, compared, differing);
        accumulator.Exit();
    }

    public void ObserveInFlight(DateTimeOffset now, int inFlight)
    {
        var accumulator = Enter(now);
        accumulator.ObserveInFlight(inFlight);
        accumulator.Exit();
    }

    /// <summary>Removes and returns the records of every minute that ended before <paramref name="before"/>.</summary>
    public List<EndpointMinuteRecord> TakeBefore(DateTimeOffset before, EndpointRole role)
    {
        var records = new List<EndpointMinuteRecord>();
        lock (_lock)
        {
            foreach (var (start, minute) in _minutes.Where(m => m.Key.AddMinutes(1) <= before).ToList())
            {
                _minutes.Remove(start);
                minute.SealAndWait();
                records.Add(minute.ToRecord(service, endpointId, role, start));
            }
        }

        records.Sort((a, b) => a.Minute.CompareTo(b.Minute));
        return records;
    }

    /// <summary>The start of the UTC minute containing <paramref name="time"/>.</summary>
    public static DateTimeOffset MinuteOf(DateTimeOffset time) => TimeGrid.Floor(time, OneMinute);

    /// <summary>The accumulator of <paramref name="time"/>'s minute, entered (call <see cref="Accumulator.Exit"/>).</summary>
    private Accumulator Enter(DateTimeOffset time)
    {
        var start = MinuteOf(time);
        var newest = Volatile.Read(ref _newest);
        if (newest is not null && newest.Start == start && newest.TryEnter())
        {
            return newest;
        }

        lock (_lock)
        {
            if (!_minutes.TryGetValue(start, out var minute))
            {
                minute = new Accumulator(start);
                _minutes[start] = minute;
            }

            if (_newest is null || _newest.Start <= start)
            {
                Volatile.Write(ref _newest, minute);
            }

            // Not sealed: only the collector seals, under this lock, after removing it from the dictionary.
            minute.TryEnter();
            return minute;
        }
    }

    private sealed class Accumulator(DateTimeOffset start)
    {
        private readonly long[] _buckets = new long[LatencyHistogram.BucketCount];
        private readonly long[] _mirrorBuckets = new long[LatencyHistogram.BucketCount];
        private int _writers;
        private int _sealed;
        private long _requests;
        private long _errors;
        private long _latencySumMicros;
        private long _latencyMaxBits;
        private int _inFlightPeak;
        private long _mirrorRequests;
        private long _mirrorErrors;
        private long _mirrorCompared;
        private long _mirrorDiffering;
        private long _mirrorLatencySumMicros;
        private long _mirrorLatencyMaxBits;

        public DateTimeOffset Start { get; } = start;

        public bool TryEnter()
        {
            // Dekker with SealAndWait: either the collector sees this writer, or this writer sees the seal.
            Interlocked.Increment(ref _writers);
            if (Volatile.Read(ref _sealed) == 0)
            {
                return true;
            }

            Interlocked.Decrement(ref _writers);
            return false;
        }

        public void Exit() => Interlocked.Decrement(ref _writers);

        public void SealAndWait()
        {
            Interlocked.Exchange(ref _sealed, 1);
            var spin = default(SpinWait);
            while (Volatile.Read(ref _writers) != 0)
            {
                spin.SpinOnce();
            }
        }

        public void Add(double latencyMs, bool error)
        {
            Interlocked.Increment(ref _requests);
            if (error)
            {
                Interlocked.Increment(ref _errors);
            }

            Interlocked.Add(ref _latencySumMicros, (long)(latencyMs * 1000));
            Max(ref _latencyMaxBits, latencyMs);
            Interlocked.Increment(ref _buckets[LatencyHistogram.BucketOf(latencyMs)]);
        }

        public void AddMirror(double latencyMs, bool error, bool compared, bool differing)
        {
            Interlocked.Increment(ref _mirrorRequests);
            if (error)
            {
                Interlocked.Increment(ref _mirrorErrors);
            }

            if (compared)
            {
                Interlocked.Increment(ref _mirrorCompared);
            }

            if (differing)
            {
                Interlocked.Increment(ref _mirrorDiffering);
            }

            Interlocked.Add(ref _mirrorLatencySumMicros, (long)(latencyMs * 1000));
            Max(ref _mirrorLatencyMaxBits, latencyMs);
            Interlocked.Increment(ref _mirrorBuckets[LatencyHistogram.BucketOf(latencyMs)]);
        }

        public void ObserveInFlight(int inFlight)
        {
            var current = Volatile.Read(ref _inFlightPeak);
            while (inFlight > current)
            {
                var seen = Interlocked.CompareExchange(ref _inFlightPeak, inFlight, current);
                if (seen == current)
                {
                    return;
                }

                current = seen;
            }
        }

        public EndpointMinuteRecord ToRecord(string service, string endpointId, EndpointRole role, DateTimeOffset minute)
        {
            var max = BitConverter.Int64BitsToDouble(_latencyMaxBits);
            return new EndpointMinuteRecord
            {
                Service = service,
                EndpointId = endpointId,
                Role = role,
                Minute = minute,
                Requests = _requests,
                Errors = _errors,
                InFlightPeak = _inFlightPeak,
                LatencyMeanMs = _requests == 0 ? 0 : _latencySumMicros / 1000.0 / _requests,
                LatencyMaxMs = max,
                LatencyP50Ms = LatencyHistogram.Percentile(_buckets, 0.50, max),
                LatencyP90Ms = LatencyHistogram.Percentile(_buckets, 0.90, max),
                LatencyP99Ms = LatencyHistogram.Percentile(_buckets, 0.99, max),
                LatencyBuckets = _buckets,
                Mirror = _mirrorRequests == 0 ? null : MirrorRecord(),
            };
        }

        private MirrorMinute MirrorRecord()
        {
            var max = BitConverter.Int64BitsToDouble(_mirrorLatencyMaxBits);
            return new MirrorMinute
            {
                Requests = _mirrorRequests,
                Errors = _mirrorErrors,
                Compared = _mirrorCompared,
                Differing = _mirrorDiffering,
                LatencyMeanMs = _mirrorLatencySumMicros / 1000.0 / _mirrorRequests,
                LatencyMaxMs = max,
                LatencyP50Ms = LatencyHistogram.Percentile(_mirrorBuckets, 0.50, max),
                LatencyP99Ms = LatencyHistogram.Percentile(_mirrorBuckets, 0.99, max),
                LatencyBuckets = _mirrorBuckets,
            };
        }

        /// <summary>Raises a non-negative double stored as its bits (non-negative doubles order like their bits).</summary>
        private static void Max(ref long bits, double value)
        {
            var candidate = BitConverter.DoubleToInt64Bits(value);
            var current = Volatile.Read(ref bits);
            while (candidate > current)
            {
                var seen = Interlocked.CompareExchange(ref bits, candidate, current);
                if (seen == current)
                {
                    return;
                }

                current = seen;
            }
        }
    }
}
