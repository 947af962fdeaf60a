using Shadowing.Core.TimeSeries;

namespace Shadowing.Core.Metrics;

/// <summary>What a metric measures.</summary>
public enum MetricKind
{
    /// <summary>Requests per step (demand).</summary>
    Requests,

    /// <summary>Failed requests per step.</summary>
    Errors,

    /// <summary>Mean latency in the step, ms.</summary>
    LatencyMean,

    /// <summary>90th-percentile latency in the step, ms.</summary>
    LatencyP90,

    /// <summary>CPU utilisation, percent.</summary>
    Cpu,

    /// <summary>Memory utilisation, percent.</summary>
    Memory,

    /// <summary>Disk reads plus writes, bytes per second.</summary>
    Io,
}

/// <summary>A request for one metric of one service over a time range, on a regular step.</summary>
/// <param name="Service">The service.</param>
/// <param name="Kind">The metric.</param>
/// <param name="From">Start of the range (inclusive).</param>
/// <param name="To">End of the range (exclusive).</param>
/// <param name="Step">Step of the series to return.</param>
public sealed record MetricQuery(string Service, MetricKind Kind, DateTimeOffset From, DateTimeOffset To, TimeSpan Step);

/// <summary>
/// Where the PAE reads metrics: the router's per-minute records, Prometheus, Azure Monitor metrics or Log
/// Analytics, or CSV files. Every source returns a regular series (gaps filled and flagged, see <see cref="Resampler"/>).
/// </summary>
public interface IMetricsSource
{
    /// <summary>The metric as a regular series.</summary>
    /// <exception cref="MetricsUnavailableException">The source has no such metric or cannot be reached.</exception>
    Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default);
}

/// <summary>A metric could not be read; the message says which and why.</summary>
public sealed class MetricsUnavailableException(string message, Exception? innerException = null) : Exception(message, innerException)
{
    /// <summary>
    /// The source has nothing for the query (the metric is not configured or not recorded, or has no samples in the range):
    /// expected for an optional metric. False when reading failed (unreachable, refused, an answer that cannot be read).
    /// </summary>
    public bool NoData { get; init; }
}
