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
public sealed class RouterRecordsSource(IStateStore store) : IMetricsSource
{
    /// <inheritdoc />
    public async Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Kind is MetricKind.Cpu or MetricKind.Memory or MetricKind.Io)
        {
            throw new MetricsUnavailableException($"The router records no {query.Kind} for service '{query.Service}'; read it from Prometheus or Azure Monitor.");
        }

        var buckets = new SortedDictionary<DateTimeOffset, EndpointMinuteRecord>();
        await foreach (var day in EndpointMetricsDay.ReadAsync(store, query.Service, DateOnly.FromDateTime(query.From.UtcDateTime), DateOnly.FromDateTime(query.To.UtcDateTime), cancellationToken).ConfigureAwait(false))
        {
            foreach (var minute in day.Minutes.Where(m => m.Minute >= query.From && m.Minute < query.To))
            {
                var bucket = Floor(minute.Minute, query.From, query.Step);

                // Merge only needs the same service, endpoint and minute; relabel so endpoints and minutes add up.
                var relabelled = minute with { EndpointId = "*", Minute = bucket };
                buckets[bucket] = buckets.TryGetValue(bucket, out var existing) ? existing.Merge(relabelled) : relabelled;
            }
        }

        if (buckets.Count == 0)
        {
            throw new MetricsUnavailableException($"The router has recorded no traffic for service '{query.Service}' between {query.From:u} and {query.To:u}.");
        }

        var points = buckets.Values.Select(r => new TimeSeriesPoint(r.Minute, Value(r, query.Kind))).ToList();
        return Resampler.Resample(points, query.Step, out _);
    }

    private static DateTimeOffset Floor(DateTimeOffset time, DateTimeOffset origin, TimeSpan step) =>
        origin + TimeSpan.FromTicks((time - origin).Ticks / step.Ticks * step.Ticks);

    private static double Value(EndpointMinuteRecord record, MetricKind kind) => kind switch
    {
        MetricKind.Requests => record.Requests,
        MetricKind.Errors => record.Errors,
        MetricKind.LatencyMean => record.LatencyMeanMs,
        MetricKind.LatencyP90 => record.LatencyP90Ms,
        _ => throw new MetricsUnavailableException($"The router records no {kind}."),
    };
}
