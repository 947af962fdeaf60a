using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;

namespace Shadowing.Router.Metrics;

/// <summary>
/// One endpoint's traffic per UTC minute, accumulated on the request path and taken by
/// <see cref="MinuteRecorder"/> once the minute is over. Requests are filed under the minute they finished in.
/// </summary>
internal sealed class MinuteAccumulators(string service, string endpointId)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<DateTimeOffset, Accumulator> _minutes = [];

    public void Record(DateTimeOffset now, double latencyMs, bool error)
    {
        var bucket = LatencyHistogram.BucketOf(latencyMs);
        lock (_lock)
        {
            var minute = For(now);
            minute.Requests++;
            minute.Errors += error ? 1 : 0;
            minute.LatencySum += latencyMs;
            minute.LatencyMax = Math.Max(minute.LatencyMax, latencyMs);
            minute.Buckets[bucket]++;
        }
    }

    public void ObserveInFlight(DateTimeOffset now, int inFlight)
    {
        lock (_lock)
        {
            var minute = For(now);
            minute.InFlightPeak = Math.Max(minute.InFlightPeak, inFlight);
        }
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
                records.Add(minute.ToRecord(service, endpointId, role, start));
            }
        }

        records.Sort((a, b) => a.Minute.CompareTo(b.Minute));
        return records;
    }

    /// <summary>The start of the UTC minute containing <paramref name="time"/>.</summary>
    public static DateTimeOffset MinuteOf(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
    }

    private Accumulator For(DateTimeOffset now)
    {
        var start = MinuteOf(now);
        if (!_minutes.TryGetValue(start, out var minute))
        {
            minute = new Accumulator();
            _minutes[start] = minute;
        }

        return minute;
    }

    private sealed class Accumulator
    {
        public long Requests;
        public long Errors;
        public double LatencySum;
        public double LatencyMax;
        public int InFlightPeak;
        public readonly long[] Buckets = new long[LatencyHistogram.BucketCount];

        public EndpointMinuteRecord ToRecord(string service, string endpointId, EndpointRole role, DateTimeOffset start) => new()
        {
            Service = service,
            EndpointId = endpointId,
            Role = role,
            Minute = start,
            Requests = Requests,
            Errors = Errors,
            InFlightPeak = InFlightPeak,
            LatencyMeanMs = Requests == 0 ? 0 : LatencySum / Requests,
            LatencyMaxMs = LatencyMax,
            LatencyP50Ms = LatencyHistogram.Percentile(Buckets, 0.50, LatencyMax),
            LatencyP90Ms = LatencyHistogram.Percentile(Buckets, 0.90, LatencyMax),
            LatencyP99Ms = LatencyHistogram.Percentile(Buckets, 0.99, LatencyMax),
            LatencyBuckets = Buckets,
        };
    }
}
