using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shadowing.Core.Metrics;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Metrics.Router;

/// <summary>
/// Reads the router's per-minute records (<c>metrics-by-day/{service}/{day}/{endpoint}@{hour}</c>) and sums every endpoint of
/// the service (production, shadows and default: all of its demand) into one series on the query's step:
/// requests and errors add up; latency percentiles are recomputed from the merged histograms; mean latency is
/// weighted by requests. Minutes the router did not record (it was down) are gaps, filled and flagged.
/// </summary>
/// <remarks>
/// The PAE reads weeks of history for every service at every run, nearly all of it the same as last time: a full day of
/// one endpoint is about 0.6 MB of JSON, so three endpoints and 28 days took 1.7 to 2.6 s per service and run
/// (<c>pae-read</c> in bench/Shadowing.Benchmarks). So the step buckets of each hour that ended more than
/// <see cref="SettleTime"/> ago are kept (48 bytes a step; with the bookkeeping about 0.5 MB a service at 28 days of
/// 5-minute steps, in <c>pae-scale</c>) and read once more <see cref="KeptFor"/> after that, then final; the last <see cref="SettleTime"/> is read
/// once per run (kept for <see cref="RecentFor"/>). A step that divides a day but not an hour is kept by the least span of
/// whole steps and hours (8 minutes by 2 hours); a query whose step does not divide a day, or whose window is not on its
/// grid, is read in full every time.
/// </remarks>
public sealed partial class RouterRecordsSource(IStateStore store, TimeProvider? time = null, ILogger<RouterRecordsSource>? logger = null) : IMetricsSource
{
    /// <summary>
    /// How long after an hour ends its records are taken as final: the router writes each minute as it ends, and only
    /// records held back longer by a store or bus outage arrive later (see <see cref="KeptFor"/>).
    /// </summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromHours(6);

    /// <summary>
    /// How long after it settled an hour is read again, once, and is final from then on: records that arrived after it was
    /// kept (a router held them back past <see cref="SettleTime"/>) count from then on, instead of being missed for as long as
    /// the hour is in the window. Counted from each hour's end, the hours read again are spread over the day (about one an
    /// hour), not all of a run's at once.
    /// </summary>
    public static readonly TimeSpan KeptFor = TimeSpan.FromDays(1);

    /// <summary>
    /// How long the buckets of an hour not settled yet are reused: the queries of one PAE run for a service (requests,
    /// p90, errors, mean latency) come within moments of each other and would each read the last hours again; the next
    /// run, minutes later, reads them afresh.
    /// </summary>
    public static readonly TimeSpan RecentFor = TimeSpan.FromMinutes(1);

    /// <summary>How long a kept hour no query asked for stays: the PAE asks for every hour of its history at each run.</summary>
    private static readonly TimeSpan KeptUnused = TimeSpan.FromDays(1);

    private readonly ConcurrentDictionary<(string Service, TimeSpan Step), ConcurrentDictionary<DateTimeOffset, Kept>> _settled = new();
    private DateTimeOffset _swept;

    /// <summary>Settled parts (hours, at steps that tile them) kept now, over every service and step.</summary>
    internal int SettledParts => _settled.Values.Sum(d => d.Values.Count(k => k.Settled));

    /// <inheritdoc />
    public async Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Kind is MetricKind.Cpu or MetricKind.Memory or MetricKind.Io)
        {
            throw new MetricsUnavailableException($"The router records no {query.Kind} for service '{query.Service}'; read it from Prometheus or Azure Monitor.") { NoData = true };
        }

        var step = query.Step;

        // Steps that tile whole UTC days, from a window on their grid: the buckets of each part (an hour, or the least
        // span of whole steps and whole hours: the router writes a document per endpoint and hour) are its own, and can be kept.
        var part = TimeSpan.TicksPerDay % step.Ticks == 0 ? TimeSpan.FromTicks(LeastCommonMultiple(step.Ticks, TimeSpan.TicksPerHour)) : TimeSpan.Zero;
        var keepable = time is not null && part > TimeSpan.Zero && query.From.UtcTicks % step.Ticks == 0 && query.To.UtcTicks % step.Ticks == 0;
        var now = keepable ? time!.GetUtcNow() : DateTimeOffset.MinValue;
        var parts = keepable ? _settled.GetOrAdd((query.Service, step), _ => new()) : null;
        var buckets = new List<Bucket>();
        var ranges = new List<(DateTimeOffset From, DateTimeOffset To)>();
        if (parts is null)
        {
            ranges.Add((query.From, query.To));
        }
        else
        {
            // The parts the window touches, whole: those kept and still good are used, the others read, runs of them at once.
            for (var start = TimeGrid.Floor(query.From, part); start < query.To; start += part)
            {
                if (parts.TryGetValue(start, out var kept) && kept.GoodAt(now))
                {
                    kept.LastUsed = now;
                    buckets.AddRange(kept.Buckets);
                }
                else if (ranges.Count > 0 && ranges[^1].To == start)
                {
                    ranges[^1] = (ranges[^1].From, start + part);
                }
                else
                {
                    ranges.Add((start, start + part));
                }
            }
        }

        var fresh = new List<Bucket>();
        foreach (var (readFrom, readTo) in ranges)
        {
            var read = new SortedDictionary<DateTimeOffset, EndpointMinuteRecord>();
            await foreach (var document in EndpointMetricsDay.ReadAsync(store, query.Service, readFrom, readTo, (key, ex) => LogUnreadable(logger ?? (ILogger)NullLogger.Instance, key, ex.Message), cancellationToken).ConfigureAwait(false))
            {
                foreach (var minute in document.Minutes)
                {
                    // Documents holding a whole day (versions before) hold minutes of kept parts too.
                    if (minute.Minute < readFrom || minute.Minute >= readTo)
                    {
                        continue;
                    }

                    var start = keepable ? TimeGrid.Floor(minute.Minute, step) : Floor(minute.Minute, query.From, step);

                    // Merge only needs the same service, endpoint and minute; relabel so endpoints and minutes add up.
                    var relabelled = minute with { EndpointId = "*", Minute = start };
                    read[start] = read.TryGetValue(start, out var existing) ? existing.Merge(relabelled) : relabelled;
                }
            }

            var range = read.Values.Select(r => new Bucket(r.Minute, r.Requests, r.Errors, r.LatencyMeanMs, r.LatencyP90Ms)).ToArray();
            fresh.AddRange(range);
            if (parts is not null)
            {
                // Every part read, as it stands now (whole, whatever the window's end), cut from the sorted buckets in one pass.
                var next = 0;
                for (var start = readFrom; start < readTo; start += part)
                {
                    var first = next;
                    while (next < range.Length && range[next].Start < start + part)
                    {
                        next++;
                    }

                    parts[start] = new Kept(range[first..next], now, start + part);
                }
            }
        }

        if (parts is not null)
        {
            LetGo(parts, now);
            if (now - _swept > TimeSpan.FromHours(1))
            {
                // Services no longer asked for (removed, renamed) hold nothing for long either.
                _swept = now;
                foreach (var (key, other) in _settled)
                {
                    if (LetGo(other, now) == 0)
                    {
                        _settled.TryRemove(key, out _);
                    }
                }
            }
        }

        // A step without requests has no latency (its records say 0): left out, so it is filled between its neighbours
        // rather than read as an endpoint that got fast.
        var latency = query.Kind is MetricKind.LatencyMean or MetricKind.LatencyP90;
        var points = buckets.Concat(fresh).Where(b => b.Start >= query.From && b.Start < query.To && (b.Requests > 0 || !latency)).OrderBy(b => b.Start).Select(b => new TimeSeriesPoint(b.Start, b.Value(query.Kind))).ToList();
        if (points.Count == 0)
        {
            throw new MetricsUnavailableException($"The router has recorded no traffic for service '{query.Service}' between {query.From:u} and {query.To:u}.") { NoData = true };
        }

        return Resampler.Resample(points, step, out _);
    }

    /// <summary>
    /// Lets go of the parts no query asked for in <see cref="KeptUnused"/>: parts the window moved past (a shorter window
    /// skipping some lets none go, the next long one asks for them); returns how many are left.
    /// </summary>
    private static int LetGo(ConcurrentDictionary<DateTimeOffset, Kept> parts, DateTimeOffset now)
    {
        foreach (var (start, unused) in parts.Where(e => e.Value.LastUsed < now - KeptUnused))
        {
            parts.TryRemove(start, out _);
        }

        return parts.Count;
    }

    private static long LeastCommonMultiple(long a, long b)
    {
        var (x, y) = (a, b);
        while (y != 0)
        {
            (x, y) = (y, x % y);
        }

        return a / x * b;
    }

    private static DateTimeOffset Floor(DateTimeOffset time, DateTimeOffset origin, TimeSpan step) =>
        origin + TimeSpan.FromTicks((time - origin).Ticks / step.Ticks * step.Ticks);

    /// <summary>The buckets of a part, when they were read, when the part ends, and when a query last used them.</summary>
    private sealed class Kept(Bucket[] buckets, DateTimeOffset keptAt, DateTimeOffset ends)
    {
        private readonly DateTimeOffset _keptAt = keptAt;

        public Bucket[] Buckets => buckets;

        /// <summary>Read once the part had settled: kept for a while at least.</summary>
        public bool Settled => _keptAt >= ends + SettleTime;

        public DateTimeOffset LastUsed { get; set; } = keptAt;

        /// <summary>
        /// Whether the buckets may stand in for a read at <paramref name="now"/>: a part read after
        /// <see cref="SettleTime"/> and <see cref="KeptFor"/> had passed since it ended is final; one read after it settled
        /// is good until then (so it is read once more, and records held back past the settle time count); one read
        /// earlier only within a run.
        /// </summary>
        public bool GoodAt(DateTimeOffset now) =>
            _keptAt >= ends + SettleTime + KeptFor || (Settled ? now < ends + SettleTime + KeptFor : now < _keptAt + RecentFor);
    }

    /// <summary>One step of the service's merged records: what each kind reads.</summary>
    private readonly record struct Bucket(DateTimeOffset Start, long Requests, long Errors, double LatencyMeanMs, double LatencyP90Ms)
    {
        public double Value(MetricKind kind) => kind switch
        {
            MetricKind.Requests => Requests,
            MetricKind.Errors => Errors,
            MetricKind.LatencyMean => LatencyMeanMs,
            MetricKind.LatencyP90 => LatencyP90Ms,
            _ => throw new MetricsUnavailableException($"The router records no {kind}.") { NoData = true },
        };
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Router records {Key} cannot be read ({Problem}): left out, its minutes a gap in the history")]
    private static partial void LogUnreadable(ILogger logger, string key, string problem);
}
