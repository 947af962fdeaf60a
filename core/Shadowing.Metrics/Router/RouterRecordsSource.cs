using System.Collections.Concurrent;
using Shadowing.Core.Metrics;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Metrics.Router;

/// <summary>
/// Reads the router's per-minute records (<c>metrics-by-day/{service}/{day}/{endpoint}</c>) and sums every endpoint of
/// the service (production, shadows and default: all of its demand) into one series on the query's step:
/// requests and errors add up; latency percentiles are recomputed from the merged histograms; mean latency is
/// weighted by requests. Minutes the router did not record (it was down) are gaps, filled and flagged.
/// </summary>
/// <remarks>
/// The PAE reads weeks of history for every service at every run, most of it the same days as last time: a full day of
/// one endpoint is about 0.6 MB of JSON, so three endpoints and 28 days took 1.7 to 2.6 s per service and run
/// (<c>pae-read</c> in bench/Shadowing.Benchmarks). So the step buckets of each day that ended more than
/// <see cref="SettleTime"/> ago are kept (48 bytes a step, about 14 KB a day at 5 minutes) and such a day is read again
/// only after <see cref="KeptFor"/>; the days after it are read once per run (kept for <see cref="RecentFor"/>). A query
/// whose steps do not tile whole days, or not on their grid, is read in full every time.
/// </remarks>
public sealed class RouterRecordsSource(IStateStore store, TimeProvider? time = null) : IMetricsSource
{
    /// <summary>
    /// How long after a UTC day ends its records are taken as final: the router writes each minute as it ends, and only
    /// records held back longer by a store or bus outage arrive later (see <see cref="KeptFor"/>).
    /// </summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromHours(6);

    /// <summary>
    /// How long a day is kept before it is read again, once: records that arrived after it was kept (a router held them
    /// back past <see cref="SettleTime"/>) count from then on, instead of being missed for as long as the day is in the window.
    /// </summary>
    public static readonly TimeSpan KeptFor = TimeSpan.FromDays(1);

    /// <summary>
    /// How long the buckets of a day not settled yet are reused: the queries of one PAE run for a service (requests, p90,
    /// errors, mean latency) come within moments of each other and would each read today and yesterday again; the next
    /// run, minutes later, reads them afresh.
    /// </summary>
    public static readonly TimeSpan RecentFor = TimeSpan.FromMinutes(1);

    /// <summary>How long a kept day no query asked for stays: the PAE asks for every day of its history at each run.</summary>
    private static readonly TimeSpan KeptUnused = TimeSpan.FromDays(1);

    private readonly ConcurrentDictionary<(string Service, TimeSpan Step), ConcurrentDictionary<DateOnly, Kept>> _settled = new();
    private DateTimeOffset _swept;

    /// <summary>Days kept now, over every service and step.</summary>
    internal int SettledDays => _settled.Values.Sum(d => d.Values.Count(k => k.Settled));

    /// <inheritdoc />
    public async Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Kind is MetricKind.Cpu or MetricKind.Memory or MetricKind.Io)
        {
            throw new MetricsUnavailableException($"The router records no {query.Kind} for service '{query.Service}'; read it from Prometheus or Azure Monitor.");
        }

        var step = query.Step;
        var from = DateOnly.FromDateTime(query.From.UtcDateTime);
        var to = DateOnly.FromDateTime(query.To.UtcDateTime);

        // Steps that tile whole UTC days, from a window on their grid: each day's buckets are its own, and can be kept.
        var keepable = time is not null && TimeSpan.TicksPerDay % step.Ticks == 0 && query.From.UtcTicks % step.Ticks == 0 && query.To.UtcTicks % step.Ticks == 0;
        var now = keepable ? time!.GetUtcNow() : DateTimeOffset.MinValue;
        var settledBy = keepable ? now - SettleTime : DateTimeOffset.MinValue;
        var days = keepable ? _settled.GetOrAdd((query.Service, step), _ => new()) : null;
        var buckets = new List<Bucket>();
        var first = from;
        while (days is not null && first <= to && days.TryGetValue(first, out var kept) && kept.KeptAt > now - (kept.Settled ? KeptFor : RecentFor))
        {
            kept.LastUsed = now;
            buckets.AddRange(kept.Buckets);
            first = first.AddDays(1);
        }

        var read = new SortedDictionary<DateTimeOffset, EndpointMinuteRecord>();
        var (readFrom, readTo) = keepable ? (Start(first), Start(to.AddDays(1))) : (query.From, query.To);
        await foreach (var day in EndpointMetricsDay.ReadAsync(store, query.Service, readFrom, readTo, cancellationToken).ConfigureAwait(false))
        {
            foreach (var minute in day.Minutes)
            {
                // Kept days are bucketed whole (the window's first day may start later); otherwise only the window counts.
                if (!keepable && (minute.Minute < query.From || minute.Minute >= query.To))
                {
                    continue;
                }

                var start = keepable ? new DateTimeOffset(minute.Minute.UtcTicks - (minute.Minute.UtcTicks % step.Ticks), TimeSpan.Zero) : Floor(minute.Minute, query.From, step);

                // Merge only needs the same service, endpoint and minute; relabel so endpoints and minutes add up.
                var relabelled = minute with { EndpointId = "*", Minute = start };
                read[start] = read.TryGetValue(start, out var existing) ? existing.Merge(relabelled) : relabelled;
            }
        }

        var fresh = read.Values.Select(r => new Bucket(r.Minute, r.Requests, r.Errors, r.LatencyMeanMs, r.LatencyP90Ms)).ToList();
        if (days is not null)
        {
            // Every day read, as it stands now (whole documents, whatever the window's end): settled ones for a while,
            // the others for the rest of this run's queries.
            for (var day = first; day <= to; day = day.AddDays(1))
            {
                days[day] = new Kept([.. fresh.Where(b => b.Start >= Start(day) && b.Start < Start(day.AddDays(1)))], now, Start(day.AddDays(1)) <= settledBy);
            }

            LetGo(days, now);
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

        var points = buckets.Concat(fresh).Where(b => b.Start >= query.From && b.Start < query.To).Select(b => new TimeSeriesPoint(b.Start, b.Value(query.Kind))).ToList();
        if (points.Count == 0)
        {
            throw new MetricsUnavailableException($"The router has recorded no traffic for service '{query.Service}' between {query.From:u} and {query.To:u}.");
        }

        return Resampler.Resample(points, step, out _);
    }

    /// <summary>
    /// Lets go of the days no query asked for in <see cref="KeptUnused"/>: days the window moved past (a shorter window
    /// skipping some lets none go, the next long one asks for them); returns how many are left.
    /// </summary>
    private static int LetGo(ConcurrentDictionary<DateOnly, Kept> days, DateTimeOffset now)
    {
        foreach (var (day, unused) in days.Where(e => e.Value.LastUsed < now - KeptUnused))
        {
            days.TryRemove(day, out _);
        }

        return days.Count;
    }

    private static DateTimeOffset Start(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    private static DateTimeOffset Floor(DateTimeOffset time, DateTimeOffset origin, TimeSpan step) =>
        origin + TimeSpan.FromTicks((time - origin).Ticks / step.Ticks * step.Ticks);

    /// <summary>The buckets of a day, when they were read, whether the day had settled, and when a query last used them.</summary>
    private sealed class Kept(Bucket[] buckets, DateTimeOffset keptAt, bool settled)
    {
        public Bucket[] Buckets => buckets;

        public bool Settled => settled;

        public DateTimeOffset KeptAt { get; } = keptAt;

        public DateTimeOffset LastUsed { get; set; } = keptAt;
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
            _ => throw new MetricsUnavailableException($"The router records no {kind}."),
        };
    }
}
