using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Features;
using Shadowing.Forecasting.Models;

namespace Shadowing.Forecasting.Backtesting;

/// <summary>What to evaluate.</summary>
/// <param name="Horizon">Steps ahead of each origin.</param>
/// <param name="StartIndex">First origin (index into the resampled series).</param>
/// <param name="EndIndex">Last origin, inclusive; origins whose target is past the end are skipped.</param>
/// <param name="RetrainEvery">Origins between retrainings; each model is trained only on values up to the first origin it serves.</param>
public sealed record BacktestOptions(int Horizon, int StartIndex, int EndIndex, int RetrainEvery);

/// <summary>Progress of a running backtest.</summary>
public readonly record struct BacktestProgress(int OriginsDone, int OriginsTotal, int Trainings);

/// <summary>Accuracy over a set of scored targets.</summary>
/// <param name="Points">Targets scored.</param>
/// <param name="Wape">Σ|actual − p50| / Σ|actual|.</param>
/// <param name="Nrmse">RMSE divided by the standard deviation of the whole input series.</param>
/// <param name="Mase">MAE divided by the MAE of the daily seasonal-naive forecast in-sample (values before the first origin).</param>
/// <param name="CoverageP90">Share of actuals at or below the p90.</param>
/// <param name="Bias">Mean of actual − p50 (positive: the forecast is low).</param>
/// <param name="PeakBias">Mean of actual − p50 over the targets whose actual is in the top decile of the scored actuals (at or above their 90th percentile): the error where capacity decisions are made.</param>
/// <param name="PeakCoverageP90">Share of those top-decile actuals at or below the p90.</param>
/// <param name="ForecastPeakBias">
/// Mean of actual − p50 over the targets whose p50 is in the top decile of the p50s. Choosing targets by their actual
/// favours the ones the forecast missed low, so even an unbiased forecaster shows a positive <paramref name="PeakBias"/>;
/// choosing by the forecast, as a capacity decision does, has no such selection effect.
/// </param>
public sealed record Accuracy(int Points, double Wape, double Nrmse, double Mase, double CoverageP90, double Bias, double PeakBias, double PeakCoverageP90, double ForecastPeakBias);

/// <summary>One scored forecast.</summary>
public readonly record struct BacktestPoint(DateTimeOffset Time, double Actual, double P50, double P90, ForecastMethod Method);

/// <summary>The outcome of a backtest: the accuracy of what was forecast (the chosen candidate at each origin), with the three baselines' WAPE on the same targets (<c>LastValueWape</c>: repeating the value at the origin).</summary>
public sealed record BacktestResult(
    int Horizon,
    TimeSpan Step,
    Accuracy Forecast,
    Accuracy? ExcludingWindows,
    double SeasonalNaiveDayWape,
    double? SeasonalNaiveWeekWape,
    double LastValueWape,
    double TrainSeconds,
    int Trainings,
    IReadOnlyList<BacktestPoint> Points)
{
    /// <summary>The lowest WAPE of the three baselines (last value, daily and weekly seasonal naive).</summary>
    public double BestBaselineWape => new[] { LastValueWape, SeasonalNaiveDayWape, SeasonalNaiveWeekWape ?? double.NaN }.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min();

    /// <summary>The forecast's WAPE as a share of the best baseline's (below 1: better than the obvious).</summary>
    public double RatioToBestBaseline => Forecast.Wape / BestBaselineWape;
}

/// <summary>
/// Rolling-origin evaluation: for each origin from <see cref="BacktestOptions.StartIndex"/> to
/// <see cref="BacktestOptions.EndIndex"/> forecast <c>origin + horizon</c> with a model trained only on values up to
/// the origin (retrained every <see cref="BacktestOptions.RetrainEvery"/> origins), choosing between the model, the
/// baselines and their combination with the same <see cref="ForecastScoreboard"/> as the live PAE, and score it
/// against the actual value. Imputed targets (gaps filled by resampling) are not scored.
/// </summary>
public sealed class Backtester(DemandForecaster forecaster, TimeProvider timeProvider)
{
    /// <summary>Runs the backtest.</summary>
    /// <param name="series">The whole series.</param>
    /// <param name="options">Horizon, origins and retraining cadence.</param>
    /// <param name="events">Event calendar for the event features.</param>
    /// <param name="excludeWindows">Optional windows (for example labelled anomalies); targets inside them are also scored separately as excluded.</param>
    /// <param name="progress">Receives progress after each training and at the end.</param>
    /// <param name="cancellationToken">Stops between trainings.</param>
    public BacktestResult Run(
        RegularSeries series,
        BacktestOptions options,
        EventCalendar events,
        IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)>? excludeWindows = null,
        IProgress<BacktestProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(options);
        Validate(series, options);
        var last = Math.Min(options.EndIndex, series.Count - 1 - options.Horizon);
        var total = Math.Max(0, last - options.StartIndex + 1);
        var points = new List<BacktestPoint>(total);
        var scoredOrigins = new List<int>(total);
        double trainSeconds = 0;
        var trainings = 0;
        var scoreboard = ForecastScoreboard.Create(forecaster.Options, series.Step);
        for (var blockStart = options.StartIndex; blockStart <= last; blockStart += options.RetrainEvery)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = timeProvider.GetTimestamp();
            var model = forecaster.Fit(series.Take(blockStart + 1), [options.Horizon], events, cancellationToken);
            trainSeconds += timeProvider.GetElapsedTime(started).TotalSeconds;
            trainings++;

            // Origin by origin as the live PAE runs: score what has arrived by this origin, then choose and remember.
            var origins = Enumerable.Range(blockStart, Math.Min(options.RetrainEvery, last - blockStart + 1)).ToArray();
            var candidates = model.Candidates(series, origins, options.Horizon);
            for (var i = 0; i < origins.Length; i++)
            {
                scoreboard.Resolve(series, origins[i]);
                var (point, method) = scoreboard.Choose(candidates[i], model.Choices[options.Horizon], events.At(candidates[i].Time, series.Step).Active);
                var target = origins[i] + options.Horizon;
                if (!series.Imputed[target])
                {
                    points.Add(new BacktestPoint(series.TimeAt(target), series.Values[target], point.P50, point.P90, method));
                    scoredOrigins.Add(origins[i]);
                }
            }

            progress?.Report(new BacktestProgress(Math.Min(blockStart + options.RetrainEvery, last + 1) - options.StartIndex, total, trainings));
        }

        var seasonality = Seasonality.Of(series);
        var naiveScale = InSampleNaiveMae(series, options.StartIndex, seasonality.Day);
        var deviation = StandardDeviation(series.Values);
        var windows = excludeWindows ?? [];
        var outside = points.Where(p => !windows.Any(w => p.Time >= w.Start && p.Time <= w.End)).ToList();
        return new BacktestResult(
            options.Horizon,
            series.Step,
            Score(points, deviation, naiveScale),
            windows.Count == 0 ? null : Score(outside, deviation, naiveScale),
            BaselineWape(series, scoredOrigins, options.Horizon, seasonality.Day) ?? double.NaN,
            seasonality.Week > 0 ? BaselineWape(series, scoredOrigins, options.Horizon, seasonality.Week) : null,
            BaselineWape(series, scoredOrigins, options.Horizon, period: 0) ?? double.NaN,
            trainSeconds,
            trainings,
            points);
    }

    /// <summary>What is wrong with <paramref name="options"/> for a series of <paramref name="count"/> values (named as the CLI options), or null.</summary>
    public static string? Problem(int count, BacktestOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Horizon < 1 ? $"--horizon must be at least 1, was {options.Horizon}."
            : options.RetrainEvery < 1 ? $"--retrain-every must be at least 1, was {options.RetrainEvery}."
            : options.StartIndex < 1 || options.StartIndex >= count - options.Horizon
                ? $"--start-index must be between 1 and {count - options.Horizon - 1} for a series of {count} values and horizon {options.Horizon}, was {options.StartIndex}."
            : options.EndIndex < options.StartIndex ? $"--end-index ({options.EndIndex}) is before --start-index ({options.StartIndex})."
            : null;
    }

    private static void Validate(RegularSeries series, BacktestOptions options)
    {
        if (Problem(series.Count, options) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(options), problem);
        }
    }

    private static Accuracy Score(IReadOnlyList<BacktestPoint> points, double deviation, double naiveScale)
    {
        if (points.Count == 0)
        {
            return new Accuracy(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        var peak = TopDecile(points.Select(p => p.Actual));
        var forecastPeak = TopDecile(points.Select(p => p.P50));
        double absolute = 0, actual = 0, squared = 0, signed = 0, peakSigned = 0, forecastPeakSigned = 0;
        int peaks = 0, peaksCovered = 0, forecastPeaks = 0;
        var covered = 0;
        foreach (var p in points)
        {
            var error = p.Actual - p.P50;
            absolute += Math.Abs(error);
            actual += Math.Abs(p.Actual);
            squared += error * error;
            signed += error;
            covered += p.Actual <= p.P90 ? 1 : 0;
            if (p.Actual >= peak)
            {
                peakSigned += error;
                peaks++;
                peaksCovered += p.Actual <= p.P90 ? 1 : 0;
            }

            if (p.P50 >= forecastPeak)
            {
                forecastPeakSigned += error;
                forecastPeaks++;
            }
        }

        var mae = absolute / points.Count;
        return new Accuracy(
            points.Count,
            actual > 0 ? absolute / actual : double.NaN,
            deviation > 0 ? Math.Sqrt(squared / points.Count) / deviation : double.NaN,
            naiveScale > 0 ? mae / naiveScale : double.NaN,
            covered / (double)points.Count,
            signed / points.Count,
            peakSigned / peaks,
            peaksCovered / (double)peaks,
            forecastPeakSigned / forecastPeaks);
    }

    private static double TopDecile(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Floor(0.9 * (sorted.Length - 1))];
    }

    /// <summary>WAPE of the seasonal naive with <paramref name="period"/> (0: the last value), or null without a full period of history.</summary>
    private static double? BaselineWape(RegularSeries series, IReadOnlyList<int> origins, int horizon, int period)
    {
        if (period < 0)
        {
            return null;
        }

        double error = 0, actual = 0;
        foreach (var origin in origins)
        {
            if ((period > 0 ? SeasonalNaive.Forecast(series, origin, horizon, period) : series.Values[origin]) is not { } forecast)
            {
                return null; // not a full period of history for every scored target
            }

            error += Math.Abs(series.Values[origin + horizon] - forecast);
            actual += Math.Abs(series.Values[origin + horizon]);
        }

        return actual > 0 ? error / actual : null;
    }

    private static double InSampleNaiveMae(RegularSeries series, int end, int period)
    {
        var lag = period > 0 && end > period ? period : 1;
        double sum = 0;
        var count = 0;
        for (var i = lag; i < end; i++)
        {
            sum += Math.Abs(series.Values[i] - series.Values[i - lag]);
            count++;
        }

        return count > 0 ? sum / count : double.NaN;
    }

    private static double StandardDeviation(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
    }
}
