using BenchmarkDotNet.Attributes;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;

namespace Shadowing.Benchmarks;

/// <summary>
/// One forecast for one trained service, as the PAE makes it every run: every candidate for all 24 horizons (2 h at
/// 5 min) from the latest value, with a model trained on four weeks of history.
/// </summary>
[MemoryDiagnoser]
public class ForecastBenchmarks
{
    private RegularSeries _series = null!;
    private ForecastModel _model = null!;

    [GlobalSetup]
    public void Setup()
    {
        _series = Inputs.FourWeeksOfDemand();
        _model = new DemandForecaster(new ForecasterOptions(), new PublicHolidayCalendar("US"), TimeProvider.System)
            .Fit(_series, [.. Enumerable.Range(1, 24)], EventCalendar.Empty);
    }

    /// <summary>All 24 horizons, every candidate (the model and the baselines), as a PAE run asks for them.</summary>
    [Benchmark]
    public int ForecastTwoHours()
    {
        var made = 0;
        foreach (var h in _model.Horizons)
        {
            made += _model.Candidates(_series, [_series.Count - 1], h).Count;
        }

        return made;
    }

    /// <summary>One horizon, every candidate.</summary>
    [Benchmark]
    public CandidateForecasts ForecastOneStep() => _model.Candidates(_series, [_series.Count - 1], 1)[0];
}

/// <summary>Benchmark inputs.</summary>
internal static class Inputs
{
    public static RegularSeries FourWeeksOfDemand(int seed = 1, double level = 1000, DateTimeOffset? from = null)
    {
        // A generated demand series (daily and weekly cycle, 5 % noise): the NAB 5-minute files hold only two weeks.
        var start = from ?? new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
        var step = TimeSpan.FromMinutes(5);
        var random = Shadowing.Core.Randomness.RandomSource.Seeded(seed);
        var values = new double[288 * 28];
        for (var i = 0; i < values.Length; i++)
        {
            var time = start + (step * i);
            var hour = time.TimeOfDay.TotalHours;
            var daily = 0.3 + (0.7 * Math.Exp(-Math.Pow(hour - 9, 2) / 6)) + (0.6 * Math.Exp(-Math.Pow(hour - 18, 2) / 8));
            var weekly = time.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 0.6 : 1.0;
            values[i] = level * daily * weekly * (1 + (0.05 * ((random.NextDouble() * 2) - 1)));
        }

        return new RegularSeries(start, step, values);
    }
}
