using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Models;

namespace Shadowing.Forecasting.Accountability;

/// <summary>
/// Keeps every candidate honest: it remembers what each candidate forecast at each origin, scores those forecasts
/// against the actuals once they arrive (per horizon: WAPE, bias overall and at peaks, p90 coverage, each an
/// exponentially weighted sum with a half-life of <c>halfLifeSteps</c> scored targets), and chooses per horizon
/// the candidate with the lowest recent WAPE — the model, a baseline, or their combination weighted by 1 / WAPE².
/// Only targets at or before the origin are scored, so a choice uses nothing after its origin; the backtest and the
/// live PAE drive this same class, origin by origin. Until a horizon has <c>minScored</c> scored targets the
/// training-time choice (<see cref="HorizonChoice"/>) stands: with little history that is a baseline, and the model
/// earns its way in through its scores.
/// </summary>
/// <remarks>Not thread-safe. <see cref="State"/> is what to persist between runs.</remarks>
public sealed class ForecastScoreboard
{
    /// <summary>The pseudo-candidate index of what was actually forecast (the chosen candidate).</summary>
    private static readonly int Chosen = CandidateForecasts.Count;

    private readonly ScoreboardState _state;
    private readonly double _decay;
    private readonly int _minScored;
    private readonly Dictionary<int, Accumulator?[]> _scores = [];
    private bool _remember = true;
    private double _peakThreshold = double.NaN;
    private DateTimeOffset _peakThresholdAt = DateTimeOffset.MinValue;
    private int _peakThresholdCount;

    /// <summary>Creates a scoreboard, empty or from a persisted <paramref name="state"/> (ignored when its step differs).</summary>
    /// <param name="step">Step of the series forecast.</param>
    /// <param name="halfLifeSteps">Scored targets after which an error counts half.</param>
    /// <param name="minScored">Scored targets a horizon needs before the scores choose.</param>
    /// <param name="state">What an earlier run persisted.</param>
    public ForecastScoreboard(TimeSpan step, int halfLifeSteps, int minScored, ScoreboardState? state = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(halfLifeSteps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(minScored, 1);
        _decay = Math.Pow(0.5, 1.0 / halfLifeSteps);
        _minScored = minScored;
        _state = state is not null && state.Step == step ? state : new ScoreboardState { Step = step };

        // A state written by another version (other candidates) or damaged is dropped where it does not fit, not trusted.
        _state.Pending = [.. _state.Pending.Where(p => p.P50.Length == Chosen + 1 && p.P90.Length == Chosen + 1)];
        foreach (var score in _state.Scores.Where(s => s.Method is null || Enum.IsDefined(s.Method.Value)))
        {
            Row(score.Horizon)[score.Method is { } m ? (int)m : Chosen] = new Accumulator(score);
        }
    }

    /// <summary>A scoreboard with the half-life and threshold of <paramref name="options"/>, for a series of <paramref name="step"/>.</summary>
    public static ForecastScoreboard Create(ForecasterOptions options, TimeSpan step, ScoreboardState? state = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var halfLife = (int)Math.Max(1, Math.Round(options.ScoringHalfLife / step));
        return new ForecastScoreboard(step, halfLife, options.MinScoredForChoice, state);
    }

    /// <summary>What to persist: the scores and the forecasts still waiting for their actuals.</summary>
    public ScoreboardState State
    {
        get
        {
            _state.Scores = [.. _scores.OrderBy(r => r.Key).SelectMany(r => r.Value
                .Select((a, i) => a is null ? null : a.ToScore(r.Key, i == Chosen ? null : (ForecastMethod)i))
                .OfType<CandidateScore>())];
            return _state;
        }
    }

    /// <summary>Every candidate's scores, and what was actually forecast, at each of <paramref name="horizons"/> that has any.</summary>
    public IReadOnlyList<HorizonScore> Report(IEnumerable<int> horizons)
    {
        ArgumentNullException.ThrowIfNull(horizons);
        return [.. horizons.Where(_scores.ContainsKey).SelectMany(h => _scores[h]
            .Select((a, i) => a?.ToScore(h, i == Chosen ? null : (ForecastMethod)i))
            .OfType<CandidateScore>()
            .OrderBy(s => s.Method is null ? -1 : (int)s.Method)
            .Select(HorizonScore.Of))];
    }

    /// <summary>Whether recent scores, rather than the training-time choice, decide what forecasts <paramref name="horizon"/>.</summary>
    public bool Decides(int horizon) => _scores.TryGetValue(horizon, out var row) && row[Chosen] is { } c && c.Count >= _minScored;

    /// <summary>The scores of one candidate (<c>null</c>: of what was actually forecast) at <paramref name="horizon"/>, if any target was scored.</summary>
    public CandidateScore? Score(int horizon, ForecastMethod? method) =>
        _scores.TryGetValue(horizon, out var row) && row[method is { } m ? (int)m : Chosen] is { } a ? a.ToScore(horizon, method) : null;

    /// <summary>
    /// Starts the origin <c>series.TimeAt(last)</c>: scores every remembered forecast whose target is at or before it
    /// (imputed targets are dropped unscored) and forgets it; forecasts whose target fell out of the series are dropped.
    /// The forecasts chosen next are remembered only when this origin is later than the last one remembered, so a run
    /// repeated from the same origin is not scored twice.
    /// </summary>
    public void Resolve(RegularSeries series, int last)
    {
        ArgumentNullException.ThrowIfNull(series);
        var now = series.TimeAt(last);
        _remember = _state.LastOrigin is not { } previous || now > previous;
        if (_remember)
        {
            _state.LastOrigin = now;
        }

        var kept = new List<PendingForecast>(_state.Pending.Count);
        foreach (var pending in _state.Pending)
        {
            if (pending.Target > now)
            {
                kept.Add(pending);
                continue;
            }

            var index = (int)((pending.Target - series.Start).Ticks / series.Step.Ticks);
            if (index < 0 || series.TimeAt(index) != pending.Target || series.Imputed[index])
            {
                continue;
            }

            var actual = series.Values[index];
            var peak = actual >= PeakThreshold(series, last);
            var row = Row(pending.Horizon);
            for (var i = 0; i <= Chosen; i++)
            {
                if (double.IsFinite(pending.P50[i]))
                {
                    (row[i] ??= new Accumulator()).Add(actual, pending.P50[i], pending.P90[i], peak, _decay);
                }
            }
        }

        _state.Pending = kept;
    }

    /// <summary>
    /// Chooses the forecast for one target from <paramref name="candidates"/> (filling in the combination), and
    /// remembers every candidate's forecast to score it once the actual arrives.
    /// </summary>
    /// <param name="candidates">What each candidate forecasts.</param>
    /// <param name="trained">The training-time choice, used until the horizon has enough scored targets.</param>
    /// <param name="duringEvent">
    /// The target falls in an event of the calendar. The baselines and their combination know nothing of events, so a
    /// recent error measured outside them says nothing about one: the model forecasts such a target when it has one.
    /// </param>
    /// <returns>The forecast, and which candidate made it.</returns>
    public (ForecastPoint Point, ForecastMethod Method) Choose(CandidateForecasts candidates, HorizonChoice trained, bool duringEvent = false)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(trained);
        var row = _scores.GetValueOrDefault(candidates.Horizon);
        var scored = Decides(candidates.Horizon);
        Combine(candidates, row, scored, trained);

        var method = trained.Method;
        if (scored)
        {
            var best = double.PositiveInfinity;
            for (var i = 0; i < CandidateForecasts.Count; i++)
            {
                // Strictly lower wins, so the model (index 0) keeps a tie.
                if (candidates.Has((ForecastMethod)i) && row![i] is { } a && a.Count >= _minScored && a.Wape < best)
                {
                    (best, method) = (a.Wape, (ForecastMethod)i);
                }
            }
        }

        if (duringEvent && candidates.Has(ForecastMethod.Model))
        {
            method = ForecastMethod.Model;
        }
        else if (!candidates.Has(method))
        {
            method = candidates.Has(ForecastMethod.LastValue) ? ForecastMethod.LastValue : ForecastMethod.Model;
        }

        var point = candidates.Point(method);
        if (!_remember)
        {
            return (point, method);
        }

        var p50 = new float[Chosen + 1];
        var p90 = new float[Chosen + 1];
        for (var i = 0; i < Chosen; i++)
        {
            (p50[i], p90[i]) = ((float)candidates.P50[i], (float)candidates.P90[i]);
        }

        (p50[Chosen], p90[Chosen]) = ((float)point.P50, (float)point.P90);
        _state.Pending.Add(new PendingForecast { Target = candidates.Time, Horizon = candidates.Horizon, P50 = p50, P90 = p90 });
        return (point, method);
    }

    /// <summary>The combination: the other candidates weighted by 1 / WAPE², from their scores once there are enough, else from the training-time held-out WAPE.</summary>
    private void Combine(CandidateForecasts candidates, Accumulator?[]? row, bool scored, HorizonChoice trained)
    {
        double weights = 0, p50 = 0, p90 = 0;
        for (var i = 0; i < CandidateForecasts.Count; i++)
        {
            var method = (ForecastMethod)i;
            if (method == ForecastMethod.Combination || !candidates.Has(method))
            {
                continue;
            }

            var wape = scored
                ? row![i] is { } a && a.Count >= _minScored ? a.Wape : double.NaN
                : trained.HeldOutWape.GetValueOrDefault(method, double.NaN);
            if (!double.IsFinite(wape))
            {
                continue;
            }

            // A perfect candidate gets all the weight; 1e-9 keeps that finite.
            var weight = 1 / Math.Max(wape * wape, 1e-9);
            weights += weight;
            p50 += weight * candidates.P50[i];
            p90 += weight * candidates.P90[i];
        }

        if (weights > 0)
        {
            candidates.Set(ForecastMethod.Combination, new ForecastPoint(candidates.Horizon, candidates.Time, p50 / weights, p90 / weights));
        }
    }

    /// <summary>
    /// A peak is an actual at or above the 90th percentile of the series so far (its top decile), recomputed once a
    /// day of series time or when the history has grown by a tenth, not at every origin: sorting the whole history
    /// each time would dominate a backtest.
    /// </summary>
    private double PeakThreshold(RegularSeries series, int last)
    {
        var now = series.TimeAt(last);
        if (double.IsNaN(_peakThreshold) || now - _peakThresholdAt >= TimeSpan.FromDays(1) || now < _peakThresholdAt || last + 1 > _peakThresholdCount * 1.1)
        {
            _peakThresholdCount = last + 1;
            var values = series.Values.Take(last + 1).Where((_, i) => !series.Imputed[i]).Order().ToArray();
            _peakThreshold = values.Length == 0 ? double.PositiveInfinity : values[(int)Math.Floor(0.9 * (values.Length - 1))];
            _peakThresholdAt = now;
        }

        return _peakThreshold;
    }

    private Accumulator?[] Row(int horizon)
    {
        if (!_scores.TryGetValue(horizon, out var row))
        {
            _scores[horizon] = row = new Accumulator?[Chosen + 1];
        }

        return row;
    }

    /// <summary>Exponentially weighted sums of one candidate's errors at one horizon.</summary>
    private sealed class Accumulator
    {
        private double _weight, _absError, _absActual, _error, _peakWeight, _peakError, _covered;

        public Accumulator()
        {
        }

        public Accumulator(CandidateScore score)
        {
            (_weight, _absError, _absActual, _error, _peakWeight, _peakError, _covered, Count) =
                (score.Weight, score.AbsError, score.AbsActual, score.Error, score.PeakWeight, score.PeakError, score.Covered, score.Scored);
        }

        public int Count { get; private set; }

        public double Wape => _absActual > 0 ? _absError / _absActual : double.PositiveInfinity;

        public void Add(double actual, double p50, double p90, bool peak, double decay)
        {
            _weight = (_weight * decay) + 1;
            _absError = (_absError * decay) + Math.Abs(actual - p50);
            _absActual = (_absActual * decay) + Math.Abs(actual);
            _error = (_error * decay) + (actual - p50);
            _covered = (_covered * decay) + (actual <= p90 ? 1 : 0);
            _peakWeight = (_peakWeight * decay) + (peak ? 1 : 0);
            _peakError = (_peakError * decay) + (peak ? actual - p50 : 0);
            Count++;
        }

        public CandidateScore ToScore(int horizon, ForecastMethod? method) => new()
        {
            Horizon = horizon,
            Method = method,
            Scored = Count,
            Weight = _weight,
            AbsError = _absError,
            AbsActual = _absActual,
            Error = _error,
            PeakWeight = _peakWeight,
            PeakError = _peakError,
            Covered = _covered,
        };
    }
}
