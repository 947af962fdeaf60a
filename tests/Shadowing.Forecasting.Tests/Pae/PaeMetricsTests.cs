using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Pae;

namespace Shadowing.Forecasting.Tests.Pae;

public sealed class PaeMetricsTests
{
    [Fact]
    public void Gauges_CarryEachServicesLatestScores_ByHorizonAndCandidate()
    {
        // A meter factory of its own: tests running in parallel create other Shadowing.Pae meters.
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new PaeMetrics(factory);
        metrics.Update("orders", [new HorizonScore(1, "forecast", 10, Wape: 0.12, Bias: -3, PeakBias: null, CoverageP90: 0.9), new HorizonScore(1, "Model", 10, Wape: 0.2)]);
        metrics.Update("orders", [new HorizonScore(1, "forecast", 11, Wape: 0.1, Bias: -2, PeakBias: 5, CoverageP90: 0.91)]);
        metrics.Update("payments", [new HorizonScore(6, "LastValue", 4, Wape: 0.3)]);
        var seen = new List<(string Name, double Value, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PaeMetrics.MeterName && instrument.Meter.Scope == factory)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
            seen.Add((instrument.Name, value, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.Start();

        listener.RecordObservableInstruments();

        Assert.Contains(("shadowing.pae.forecast.wape", 0.1, "service=orders,horizon=1,candidate=forecast"), seen);
        Assert.Contains(("shadowing.pae.forecast.peak_bias", 5, "service=orders,horizon=1,candidate=forecast"), seen);
        Assert.Contains(("shadowing.pae.forecast.wape", 0.3, "service=payments,horizon=6,candidate=LastValue"), seen);
        Assert.DoesNotContain(seen, s => s.Tags.Contains("candidate=Model", StringComparison.Ordinal)); // replaced by the later run
        Assert.DoesNotContain(seen, s => s.Name == "shadowing.pae.forecast.bias" && s.Tags.StartsWith("service=payments", StringComparison.Ordinal)); // no bias measured: no point
    }
}
