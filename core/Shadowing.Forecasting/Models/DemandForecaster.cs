using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Features;

namespace Shadowing.Forecasting.Models;

/// <summary>
/// Trains demand forecasters: one LightGBM regression model for a set of horizons (the horizon is a feature),
/// predicting log(1+y) at the target minus log(1+y) at the origin, each example weighted by the size of its
/// target so that training favours what WAPE measures. The p90 comes from the 90th percentile of residuals on
/// the latest <see cref="ForecasterOptions.CalibrationFraction"/> of examples, held out from a first fit (which sees no
/// target inside the held-out span), before the final fit on everything. Per horizon, the model is used only where its error on those held-out examples beats
/// the last value and the daily and weekly seasonal naive; otherwise that baseline forecasts the horizon. With too
/// little history it uses the baseline with the lowest in-sample error.
/// </summary>
/// <remarks>Not thread-safe: one <see cref="Fit"/> at a time per instance.</remarks>
public sealed class DemandForecaster
{
    private readonly ForecasterOptions _options;
    private readonly IHolidayCalendar _holidays;
    private readonly TimeProvider _time;
    private readonly MLContext _ml;

    /// <summary>Creates a forecaster.</summary>
    public DemandForecaster(ForecasterOptions options, IHolidayCalendar holidays, TimeProvider timeProvider)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _holidays = holidays ?? throw new ArgumentNullException(nameof(holidays));
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        _ml = new MLContext(seed: options.Seed);
    }

    /// <summary>The settings it was created with.</summary>
    public ForecasterOptions Options => _options;

    /// <summary>Trains on every value of <paramref name="history"/> for <paramref name="horizons"/> (in steps).</summary>
    public ForecastModel Fit(RegularSeries history, IReadOnlyList<int> horizons, EventCalendar events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(horizons);
        ArgumentNullException.ThrowIfNull(events);
        if (horizons.Count == 0 || horizons.Any(h => h < 1))
        {
            throw new ArgumentException("Give at least one horizon, each of at least one step.", nameof(horizons));
        }

        var started = _time.GetTimestamp();
        var seasonality = Seasonality.Of(history);
        var maxHorizon = horizons.Max();
        var builder = new FeatureBuilder(history, seasonality, useWeek: seasonality.Week > 0, _holidays, events);
        if (!builder.UsesWeek || CountExamples(history, builder.MinOrigin(maxHorizon), horizons) < _options.MinTrainingExamples)
        {
            builder = new FeatureBuilder(history, seasonality, useWeek: false, _holidays, events);
        }

        var minOrigin = builder.MinOrigin(maxHorizon);
        if (CountExamples(history, minOrigin, horizons) < _options.MinTrainingExamples)
        {
            return FitBaseline(history, horizons, seasonality, events, started);
        }

        var rows = new List<FeatureRow>();
        var mean = 1 + history.Values.Average();
        for (var origin = minOrigin; origin < history.Count; origin++)
        {
            foreach (var h in horizons)
            {
                var target = origin + h;
                if (target >= history.Count || history.Imputed[target])
                {
                    continue;
                }

                var features = new float[builder.Count];
                builder.Fill(origin, h, features);
                rows.Add(new FeatureRow
                {
                    Features = features,
                    Label = (float)(builder.LogAt(target) - builder.LogAt(origin)),
                    Weight = (float)((1 + history.Values[target]) / mean),
                    Horizon = h,
                    Origin = origin,
                });
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        var schema = FeatureRow.Schema(builder.Count);
        var (calibrationRows, held) = CalibrationSplit(rows, _options.CalibrationFraction);
        if (calibrationRows.Count == 0)
        {
            // Too short for a held-out check the calibration model has not seen: no honest p90 or choice for a model.
            return FitBaseline(history, horizons, seasonality, events, started);
        }

        var calibration = Train(calibrationRows, schema);
        var scores = calibration.Transform(_ml.Data.LoadFromEnumerable(held, schema)).GetColumn<float>(nameof(ScoreRow.Score)).ToArray();
        var residuals = held.Select((r, i) => (r.Horizon, Residual: (double)(r.Label - scores[i]))).ToArray();
        var q90 = BaselineMargins(history, horizons, seasonality);
        foreach (var h in horizons)
        {
            q90[(h, ForecastMethod.Model)] = Quantile90(residuals.Where(r => r.Horizon == h).Select(r => r.Residual).ToArray(), residuals.Select(r => r.Residual).ToArray());
        }

        var choices = Choose(history, builder, seasonality, horizons, held, scores);

        // Trained even where a baseline was chosen: the scoreboard keeps scoring the model and may choose it later.
        cancellationToken.ThrowIfCancellationRequested();
        var model = Train(rows, schema);
        return new ForecastModel(ForecastMethod.Model, seasonality, builder.UsesWeek, horizons, q90, _ml, model, schema, _holidays, events, _time.GetElapsedTime(started), rows.Count, choices: choices);
    }

    /// <summary>
    /// Splits <paramref name="rows"/> (in origin order) into the calibration model's training rows and the held-out latest
    /// <paramref name="fraction"/>, whose first origin is the split. Rows whose target lies at or past the split are left
    /// out of both: trained on, they would hand the calibration model the very values the held-out labels are made of
    /// (a purge gap of the largest horizon), and the held-out residuals, the model's p90 and its choice against the
    /// baselines would read better than the model forecasts.
    /// </summary>
    internal static (List<FeatureRow> Train, FeatureRow[] Held) CalibrationSplit(IReadOnlyList<FeatureRow> rows, double fraction)
    {
        if (rows.Count == 0)
        {
            return ([], []);
        }

        var cut = Math.Min((int)(rows.Count * (1 - fraction)), rows.Count - 1);
        var split = rows[cut].Origin;
        return ([.. rows.Where(r => r.Origin + r.Horizon < split)], [.. rows.Where(r => r.Origin >= split)]);
    }

    /// <summary>
    /// Per horizon, the candidate with the lowest WAPE on the held-out latest examples, which the calibration model did
    /// not see: the model, the last value, or the daily or weekly seasonal naive. Only history before the origin
    /// decides, so the backtest selects exactly as the live PAE does; the model keeps a tie.
    /// </summary>
    private static Dictionary<int, HorizonChoice> Choose(RegularSeries history, FeatureBuilder builder, Seasonality seasonality, IReadOnlyList<int> horizons, FeatureRow[] held, float[] scores)
    {
        var choices = new Dictionary<int, HorizonChoice>();
        foreach (var h in horizons)
        {
            var rows = Enumerable.Range(0, held.Length).Where(i => held[i].Horizon == h).ToArray();
            var wape = new Dictionary<ForecastMethod, double>();
            if (rows.Length > 0)
            {
                wape[ForecastMethod.Model] = Wape(rows.Select(i => (held[i].Origin, Math.Max(0, Math.Exp(builder.LogAt(held[i].Origin) + scores[i]) - 1))));
                foreach (var (method, period) in new[] { (ForecastMethod.LastValue, 0), (ForecastMethod.SeasonalNaiveDay, seasonality.Day), (ForecastMethod.SeasonalNaiveWeek, seasonality.Week) })
                {
                    if (method == ForecastMethod.LastValue || period > 0)
                    {
                        var forecasts = rows.Select(i => (held[i].Origin, Forecast: period > 0 ? SeasonalNaive.Forecast(history, held[i].Origin, h, period) : history.Values[held[i].Origin])).ToArray();
                        if (forecasts.All(f => f.Forecast is not null))
                        {
                            wape[method] = Wape(forecasts.Select(f => (f.Origin, f.Forecast!.Value)));
                        }
                    }
                }
            }

            var best = wape.Count == 0 ? ForecastMethod.Model : wape.OrderBy(w => w.Value).ThenBy(w => w.Key != ForecastMethod.Model).First().Key;
            var bestPeriod = best switch { ForecastMethod.SeasonalNaiveDay => seasonality.Day, ForecastMethod.SeasonalNaiveWeek => seasonality.Week, _ => 0 };
            choices[h] = new HorizonChoice(h, best, bestPeriod, wape);

            double Wape(IEnumerable<(int Origin, double Forecast)> forecasts)
            {
                double error = 0, total = 0;
                foreach (var (origin, forecast) in forecasts)
                {
                    error += Math.Abs(history.Values[origin + h] - forecast);
                    total += Math.Abs(history.Values[origin + h]);
                }

                return total > 0 ? error / total : double.PositiveInfinity;
            }
        }

        return choices;
    }

    private static int CountExamples(RegularSeries history, int minOrigin, IReadOnlyList<int> horizons) =>
        horizons.Sum(h => Math.Max(0, history.Count - h - minOrigin));

    /// <summary>Log-space p90 margin used when there are too few residuals to measure one: p90 = 1.5 × p50.</summary>
    internal static readonly double DefaultLogMargin = Math.Log(1.5);

    /// <summary>
    /// The 90th percentile of this horizon's residuals, or of all of them when the horizon has too few, never below
    /// zero; <see cref="DefaultLogMargin"/> when there are fewer than 30 residuals in all (a quantile of a handful
    /// of points, one of them a partial first step, can be absurd).
    /// </summary>
    private static double Quantile90(double[] forHorizon, double[] all)
    {
        var sample = forHorizon.Length >= 30 ? forHorizon : all;
        if (sample.Length < 30)
        {
            return DefaultLogMargin;
        }

        Array.Sort(sample);
        return Math.Max(0, sample[(int)Math.Floor(0.9 * (sample.Length - 1))]);
    }

    private ITransformer Train(IEnumerable<FeatureRow> rows, SchemaDefinition schema)
    {
        var trainer = _ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
        {
            LabelColumnName = nameof(FeatureRow.Label),
            FeatureColumnName = nameof(FeatureRow.Features),
            ExampleWeightColumnName = nameof(FeatureRow.Weight),
            NumberOfLeaves = _options.Leaves,
            NumberOfIterations = _options.Iterations,
            LearningRate = _options.LearningRate,
            MinimumExampleCountPerLeaf = _options.MinExamplesPerLeaf,
            MaximumBinCountPerFeature = _options.MaxBinsPerFeature,
            NumberOfThreads = _options.Threads == 0 ? null : _options.Threads,
            Seed = _options.Seed,
            Silent = true,
            Verbose = false,
            Booster = new GradientBooster.Options
            {
                FeatureFraction = _options.SampleFraction,
                SubsampleFraction = _options.SampleFraction,
                SubsampleFrequency = 1,
            },
        });
        return trainer.Fit(_ml.Data.LoadFromEnumerable(rows, schema));
    }

    /// <summary>The baselines only, without training a model (milliseconds): for a service whose training has to wait.</summary>
    public ForecastModel FitBaselines(RegularSeries history, IReadOnlyList<int> horizons, EventCalendar events)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(horizons);
        return FitBaseline(history, horizons, Seasonality.Of(history), events, _time.GetTimestamp());
    }

    private ForecastModel FitBaseline(RegularSeries history, IReadOnlyList<int> horizons, Seasonality seasonality, EventCalendar events, long started)
    {
        // Score each baseline on the history it would have forecast, and keep the better one.
        var candidates = new List<(ForecastMethod Method, int Period)> { (ForecastMethod.LastValue, 0) };
        if (seasonality.Day > 0 && history.Count > seasonality.Day + horizons.Max())
        {
            candidates.Add((ForecastMethod.SeasonalNaiveDay, seasonality.Day));
        }

        if (seasonality.Week > 0 && history.Count > seasonality.Week + horizons.Max())
        {
            candidates.Add((ForecastMethod.SeasonalNaiveWeek, seasonality.Week));
        }

        var best = (Method: ForecastMethod.LastValue, Period: 0);
        var bestError = double.PositiveInfinity;
        foreach (var candidate in candidates)
        {
            var error = InSampleWape(history, horizons, candidate.Period);
            if (error < bestError)
            {
                (best, bestError) = (candidate, error);
            }
        }

        var residuals = BaselineMargins(history, horizons, seasonality);
        var choices = horizons.ToDictionary(h => h, h => new HorizonChoice(h, best.Method, best.Period, new Dictionary<ForecastMethod, double> { [best.Method] = bestError }));
        return new ForecastModel(best.Method, seasonality, false, horizons, residuals, _ml, null, null, _holidays, events, _time.GetElapsedTime(started), 0, choices: choices);
    }

    /// <summary>The log-space p90 margin of each baseline per horizon, from its residuals over the whole history (baselines are not fitted, so these are out of sample).</summary>
    private static Dictionary<(int Horizon, ForecastMethod Method), double> BaselineMargins(RegularSeries history, IReadOnlyList<int> horizons, Seasonality seasonality)
    {
        var margins = new Dictionary<(int, ForecastMethod), double>();
        foreach (var h in horizons)
        {
            foreach (var (method, period) in new[] { (ForecastMethod.LastValue, 0), (ForecastMethod.SeasonalNaiveDay, seasonality.Day), (ForecastMethod.SeasonalNaiveWeek, seasonality.Week) })
            {
                if (method == ForecastMethod.LastValue || period > 0)
                {
                    var residuals = LogResiduals(history, h, period).ToArray();
                    margins[(h, method)] = Quantile90(residuals, residuals);
                }
            }
        }

        return margins;
    }

    private static double InSampleWape(RegularSeries history, IReadOnlyList<int> horizons, int period)
    {
        double error = 0, total = 0;
        foreach (var h in horizons)
        {
            for (var origin = 0; origin + h < history.Count; origin++)
            {
                if ((period > 0 ? SeasonalNaive.Forecast(history, origin, h, period) : history.Values[origin]) is { } forecast)
                {
                    error += Math.Abs(history.Values[origin + h] - forecast);
                    total += Math.Abs(history.Values[origin + h]);
                }
            }
        }

        return total > 0 ? error / total : double.PositiveInfinity;
    }

    private static IEnumerable<double> LogResiduals(RegularSeries history, int horizon, int period)
    {
        for (var origin = 0; origin + horizon < history.Count; origin++)
        {
            var forecast = period > 0 ? SeasonalNaive.Forecast(history, origin, horizon, period) : history.Values[origin];
            if (forecast is { } f)
            {
                yield return Math.Log(1 + history.Values[origin + horizon]) - Math.Log(1 + f);
            }
        }
    }
}

/// <summary>One training or prediction example.</summary>
internal sealed class FeatureRow
{
    public float[] Features { get; set; } = [];

    public float Label { get; set; }

    public float Weight { get; set; } = 1;

    [NoColumn]
    public int Horizon { get; set; }

    [NoColumn]
    public int Origin { get; set; }

    /// <summary>The ML.NET schema with the feature vector's fixed size.</summary>
    public static SchemaDefinition Schema(int features)
    {
        var schema = SchemaDefinition.Create(typeof(FeatureRow));
        schema[nameof(Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, features);
        return schema;
    }
}

/// <summary>A model's output column.</summary>
internal sealed class ScoreRow
{
    public float Score { get; set; }
}
