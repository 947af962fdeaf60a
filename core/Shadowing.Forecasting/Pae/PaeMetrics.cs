using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Shadowing.Forecasting.Accountability;

namespace Shadowing.Forecasting.Pae;

/// <summary>
/// The PAE's accountability as gauges (meter <see cref="MeterName"/>): per service, reported horizon and candidate
/// (<c>forecast</c> for what was actually forecast), the recent WAPE, bias, bias at peaks and p90 coverage as of the
/// service's latest run.
/// </summary>
public sealed class PaeMetrics : IDisposable
{
    /// <summary>The meter a host exports (<c>shadowing up</c> adds it to the router's <c>/metrics</c>).</summary>
    public const string MeterName = "Shadowing.Pae";

    private readonly Meter _meter;
    private readonly ConcurrentDictionary<string, IReadOnlyList<HorizonScore>> _latest = new(StringComparer.Ordinal);

    /// <summary>Creates the gauges.</summary>
    public PaeMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Gauge("shadowing.pae.forecast.wape", "Recent weighted absolute percentage error.", s => s.Wape);
        Gauge("shadowing.pae.forecast.bias", "Recent mean of actual minus p50, in requests per step (positive: forecasts too low).", s => s.Bias);
        Gauge("shadowing.pae.forecast.peak_bias", "Recent mean of actual minus p50 where the actual was in the history's top decile.", s => s.PeakBias);
        Gauge("shadowing.pae.forecast.coverage_p90", "Recent share of actuals at or below the p90.", s => s.CoverageP90);
    }

    /// <summary>Replaces the figures of <paramref name="service"/>.</summary>
    public void Update(string service, IReadOnlyList<HorizonScore> scores) => _latest[service] = scores;

    /// <summary>
    /// Stops exporting <paramref name="service"/>'s figures: its latest run made no forecast (its source stopped, its
    /// history is too short), so figures from an earlier run would read as current and healthy.
    /// </summary>
    public void Forget(string service) => _latest.TryRemove(service, out _);

    /// <summary>Stops exporting the services not in <paramref name="services"/> (their routing tables were deleted).</summary>
    public void Retain(IReadOnlySet<string> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        foreach (var gone in _latest.Keys.Where(s => !services.Contains(s)).ToArray())
        {
            _latest.TryRemove(gone, out _);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _meter.Dispose();

    private void Gauge(string name, string description, Func<HorizonScore, double?> value) =>
        _meter.CreateObservableGauge(name, () => _latest.SelectMany(service => service.Value
            .Where(s => value(s) is not null)
            .Select(s => new Measurement<double>(value(s)!.Value, new("service", service.Key), new("horizon", s.Horizon), new("candidate", s.Candidate)))), description: description);
}
