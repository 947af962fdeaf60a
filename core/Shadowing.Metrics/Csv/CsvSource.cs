using Shadowing.Core.Metrics;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Metrics.Csv;

/// <summary>Settings of <see cref="CsvSource"/> (section <c>Pae:Csv</c>).</summary>
public sealed class CsvSourceOptions
{
    /// <summary>Folder of <c>{service}.{kind}.csv</c> files (<c>{service}.csv</c> for requests also works).</summary>
    public string Directory { get; set; } = "metrics";
}

/// <summary>
/// Reads metrics from <c>timestamp,value</c> CSV files, one per service and kind, and resamples them to the query's
/// step (taking the values inside the query's range): rows finer than the step fall into the step they start in, counts
/// (requests, errors) summed and measures (latency, CPU …) averaged, so per-minute request rows make requests per step.
/// </summary>
public sealed class CsvSource(CsvSourceOptions options) : IMetricsSource
{
    /// <inheritdoc />
    public Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var path = Path.Combine(options.Directory, $"{query.Service}.{query.Kind.ToString().ToLowerInvariant()}.csv");
        if (!File.Exists(path) && query.Kind == MetricKind.Requests)
        {
            path = Path.Combine(options.Directory, $"{query.Service}.csv");
        }

        if (!File.Exists(path))
        {
            throw new MetricsUnavailableException($"No CSV for {query.Kind} of '{query.Service}': {path} does not exist.") { NoData = true };
        }

        var points = TimeSeriesCsv.ReadFile(path).Where(p => p.Time >= query.From && p.Time < query.To).ToList();
        if (points.Count == 0)
        {
            throw new MetricsUnavailableException($"{path} has no values between {query.From:u} and {query.To:u}.") { NoData = true };
        }

        // Steps on the UTC clock's grid, as the router's records are; a step the query's range cuts is left out (a part of
        // it would read as a drop). Gaps are then filled by the resampler.
        var counts = query.Kind is MetricKind.Requests or MetricKind.Errors;
        var steps = points
            .GroupBy(p => TimeGrid.Floor(p.Time, query.Step))
            .Where(g => g.Key >= query.From && g.Key + query.Step <= query.To)
            .Select(g => new TimeSeriesPoint(g.Key, counts ? g.Sum(p => p.Value) : g.Average(p => p.Value)))
            .OrderBy(p => p.Time)
            .ToList();
        if (steps.Count == 0)
        {
            throw new MetricsUnavailableException($"{path} has no whole step of {query.Step} between {query.From:u} and {query.To:u}.") { NoData = true };
        }

        return Task.FromResult(Resampler.Resample(steps, query.Step, out _));
    }
}
