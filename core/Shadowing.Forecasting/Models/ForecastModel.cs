using Microsoft.ML;
using Microsoft.ML.Data;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Features;

namespace Shadowing.Forecasting.Models;

/// <summary>
/// A trained forecaster for a set of horizons. Predictions read only values at or before the origin, so the
/// same model can be applied at later origins of a longer series (as the backtest does).
/// </summary>
/// <remarks>Not thread-safe: predict from one thread at a time.</remarks>
public sealed class ForecastModel
{
    private readonly Seasonality _seasonality;
    private readonly bool _useWeek;
    private readonly IReadOnlyDictionary<(int Horizon, ForecastMethod Method), double> _q90;
    private readonly MLContext _ml;
    private readonly ITransformer? _model;
    private readonly SchemaDefinition? _schema;
    private readonly IHolidayCalendar _holidays;
    private readonly EventCalendar _events;
    private readonly IReadOnlyDictionary<int, HorizonChoice> _choices;
    private FeatureBuilder? _builder;
    private RegularSeries? _builderSeries;
    private PredictionEngine<FeatureRow, ScoreRow>? _engine;

    internal ForecastModel(
        ForecastMethod method,
        Seasonality seasonality,
        bool useWeek,
        IReadOnlyList<int> horizons,
        IReadOnlyDictionary<(int Horizon, ForecastMethod Method), double> q90,
        MLContext ml,
        ITransformer? model,
        SchemaDefinition? schema,
        IHolidayCalendar holidays,
        EventCalendar events,
        TimeSpan trainingTime,
        int trainingExamples,
        IReadOnlyDictionary<int, HorizonChoice> choices)
    {
        _choices = choices;
        Method = choices.Values.Select(c => c.Method).Distinct().Count() == 1 ? choices.Values.First().Method : method;
        _seasonality = seasonality;
        _useWeek = useWeek;
        Horizons = horizons;
        _q90 = q90;
        _ml = ml;
        _model = model;
        _schema = schema;
        _holidays = holidays;
        _events = events;
        TrainingTime = trainingTime;
        TrainingExamples = trainingExamples;
        MinOrigin = model is null ? 0 : new FeatureBuilder(new RegularSeries(DateTimeOffset.UnixEpoch, TimeSpan.FromMinutes(1), []), seasonality, useWeek, holidays, events).MinOrigin(horizons.Max());
    }

    /// <summary>What forecasts every horizon (the model when horizons differ: see <see cref="Choices"/>).</summary>
    public ForecastMethod Method { get; }

    /// <summary>The event calendar it forecasts with.</summary>
    public EventCalendar Events => _events;

    /// <summary>
    /// This model forecasting with <paramref name="events"/> as its calendar: an event added or changed since it was
    /// trained counts at once, through what the model learned of past events, instead of at the next retraining.
    /// </summary>
    public ForecastModel WithEvents(EventCalendar events) =>
        new(Method, _seasonality, _useWeek, Horizons, _q90, _ml, _model, _schema, _holidays, events, TrainingTime, TrainingExamples, _choices);

    /// <summary>Per horizon, what forecasts it and the held-out errors that chose it.</summary>
    public IReadOnlyDictionary<int, HorizonChoice> Choices => _choices;

    /// <summary>The horizons (in steps) it was trained for.</summary>
    public IReadOnlyList<int> Horizons { get; }

    /// <summary>How long training took.</summary>
    public TimeSpan TrainingTime { get; }

    /// <summary>Examples it was trained on (0 for a baseline).</summary>
    public int TrainingExamples { get; }

    /// <summary>Whether the weekly features were used.</summary>
    public bool UsesWeeklySeasonality => _useWeek;

    /// <summary>Forecasts every trained horizon from <paramref name="origin"/> of <paramref name="series"/>.</summary>
    public IReadOnlyList<ForecastPoint> Predict(RegularSeries series, int origin) =>
        [.. Horizons.Select(h => Predict(series, origin, h))];

    /// <summary>Forecasts <c>origin + horizon</c>.</summary>
    public ForecastPoint Predict(RegularSeries series, int origin, int horizon)
    {
        ArgumentNullException.ThrowIfNull(series);
        Check(series, origin, horizon);
        return _choices[horizon].Method != ForecastMethod.Model
            ? Baseline(series, origin, horizon)
            : PredictModel(series, [origin], horizon)[0];
    }

    /// <summary>
    /// The model's forecasts of <c>origin + horizon</c>: one origin through a prediction engine (what a live run asks,
    /// without the cost of a data view per call), many in one batch (what a backtest asks).
    /// </summary>
    private ForecastPoint[] PredictModel(RegularSeries series, IReadOnlyList<int> origins, int horizon)
    {
        var builder = BuilderFor(series);
        if (origins.Count == 1)
        {
            var row = new FeatureRow { Features = new float[builder.Count] };
            builder.Fill(origins[0], horizon, row.Features);
            _engine ??= _ml.Model.CreatePredictionEngine<FeatureRow, ScoreRow>(_model, inputSchemaDefinition: _schema);
            return [Point(series, builder, origins[0], horizon, _engine.Predict(row).Score)];
        }

        var rows = origins.Select(o =>
        {
            var row = new FeatureRow { Features = new float[builder.Count] };
            builder.Fill(o, horizon, row.Features);
            return row;
        }).ToArray();
        var scores = _model!.Transform(_ml.Data.LoadFromEnumerable(rows, _schema)).GetColumn<float>(nameof(ScoreRow.Score)).ToArray();
        return [.. origins.Select((o, i) => Point(series, builder, o, horizon, scores[i]))];
    }

    /// <summary>The first origin this model can forecast from: its features reach this far back.</summary>
    public int MinOrigin { get; }

    private void Check(RegularSeries series, int origin, int horizon)
    {
        if (!Horizons.Contains(horizon))
        {
            throw new ArgumentOutOfRangeException(nameof(horizon), horizon, $"The model was trained for horizons {string.Join(", ", Horizons)}.");
        }

        if (origin < MinOrigin || origin >= series.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(origin), origin, $"Origins must be between {MinOrigin} and {series.Count - 1}.");
        }
    }

    private FeatureBuilder BuilderFor(RegularSeries series)
    {
        // Features need log values of the whole series; compute them once per series, not per prediction.
        if (!ReferenceEquals(series, _builderSeries))
        {
            _builder = new FeatureBuilder(series, _seasonality, _useWeek, _holidays, _events);
            _builderSeries = series;
        }

        return _builder!;
    }

    private ForecastPoint Point(RegularSeries series, FeatureBuilder builder, int origin, int horizon, float score)
    {
        var log = builder.LogAt(origin) + score;
        var p50 = Math.Max(0, Math.Exp(log) - 1);
        var p90 = Math.Max(p50, Math.Exp(log + _q90[(horizon, ForecastMethod.Model)]) - 1);
        return new ForecastPoint(horizon, series.TimeAt(origin) + (series.Step * horizon), p50, p90);
    }

    private ForecastPoint Baseline(RegularSeries series, int origin, int horizon) =>
        Baseline(series, origin, horizon, _choices[horizon].Method, lastValueWithoutPeriod: true)!.Value;

    /// <summary>
    /// A baseline's forecast, or null when <paramref name="method"/> has no period of history here; the chosen
    /// baseline then falls back to the last value when <paramref name="lastValueWithoutPeriod"/> (never for the
    /// scoreboard's candidates, which must not score the last value under a seasonal name).
    /// </summary>
    private ForecastPoint? Baseline(RegularSeries series, int origin, int horizon, ForecastMethod method, bool lastValueWithoutPeriod)
    {
        var period = method switch { ForecastMethod.SeasonalNaiveDay => _seasonality.Day, ForecastMethod.SeasonalNaiveWeek => _seasonality.Week, _ => 0 };
        var p50 = method == ForecastMethod.LastValue ? series.Values[origin] : SeasonalNaive.Forecast(series, origin, horizon, period);
        if (p50 is null && lastValueWithoutPeriod)
        {
            p50 = series.Values[origin];
        }

        if (p50 is not { } value || !_q90.TryGetValue((horizon, method), out var margin))
        {
            return null;
        }

        var p90 = Math.Max(value, Math.Exp(Math.Log(1 + value) + margin) - 1);
        return new ForecastPoint(horizon, series.TimeAt(origin) + (series.Step * horizon), value, p90);
    }

    /// <summary>
    /// What every candidate forecasts for <c>origin + horizon</c> from each origin: the model (when one was trained)
    /// and the three baselines, for <see cref="Accountability.ForecastScoreboard"/> to choose from and score.
    /// </summary>
    public IReadOnlyList<CandidateForecasts> Candidates(RegularSeries series, IReadOnlyList<int> origins, int horizon)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(origins);
        foreach (var origin in origins)
        {
            Check(series, origin, horizon);
        }

        var model = _model is null || origins.Count == 0 ? null : PredictModel(series, origins, horizon);
        var result = new CandidateForecasts[origins.Count];
        for (var i = 0; i < origins.Count; i++)
        {
            var candidates = new CandidateForecasts(horizon, series.TimeAt(origins[i]) + (series.Step * horizon));
            if (model is not null)
            {
                candidates.Set(ForecastMethod.Model, model[i]);
            }

            foreach (var method in new[] { ForecastMethod.LastValue, ForecastMethod.SeasonalNaiveDay, ForecastMethod.SeasonalNaiveWeek })
            {
                if (Baseline(series, origins[i], horizon, method, lastValueWithoutPeriod: false) is { } point)
                {
                    candidates.Set(method, point);
                }
            }

            result[i] = candidates;
        }

        return result;
    }
}

/// <summary>What forecasts one horizon, and why.</summary>
/// <param name="Horizon">Steps ahead.</param>
/// <param name="Method">The model or a baseline.</param>
/// <param name="Period">The seasonal-naive period in steps (0 for the model and the last value).</param>
/// <param name="HeldOutWape">WAPE of each candidate on the latest examples, held out from the model that was scored (in-sample for a history too short for the model).</param>
public sealed record HorizonChoice(int Horizon, ForecastMethod Method, int Period, IReadOnlyDictionary<ForecastMethod, double> HeldOutWape);
