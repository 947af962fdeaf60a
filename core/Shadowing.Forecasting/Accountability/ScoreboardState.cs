using System.Text.Json.Serialization;
using Shadowing.Forecasting.Models;

namespace Shadowing.Forecasting.Accountability;

/// <summary>A <see cref="ForecastScoreboard"/> as persisted (the live PAE keeps it at <c>forecast-scores/{service}</c>).</summary>
public sealed class ScoreboardState
{
    /// <summary>Step of the series scored; a scoreboard for another step starts afresh.</summary>
    public TimeSpan Step { get; set; }

    /// <summary>The latest origin whose forecasts were remembered: a second run from the same origin is not scored twice.</summary>
    public DateTimeOffset? LastOrigin { get; set; }

    /// <summary>Per horizon and candidate, the weighted error sums.</summary>
    public List<CandidateScore> Scores { get; set; } = [];

    /// <summary>Forecasts whose actual has not arrived yet.</summary>
    public List<PendingForecast> Pending { get; set; } = [];
}

/// <summary>
/// How one candidate (or, with no <see cref="Method"/>, what was actually forecast) has done at one horizon: sums
/// weighted so that an error counts half after a half-life of later scored targets.
/// </summary>
public sealed record CandidateScore
{
    /// <summary>Steps ahead.</summary>
    public int Horizon { get; init; }

    /// <summary>The candidate; null for the forecast the PAE actually made (the chosen candidate at each origin).</summary>
    public ForecastMethod? Method { get; init; }

    /// <summary>Targets scored in all (unweighted).</summary>
    public int Scored { get; init; }

    /// <summary>Weighted count of scored targets.</summary>
    public double Weight { get; init; }

    /// <summary>Weighted Σ|actual − p50|.</summary>
    public double AbsError { get; init; }

    /// <summary>Weighted Σ|actual|.</summary>
    public double AbsActual { get; init; }

    /// <summary>Weighted Σ(actual − p50).</summary>
    public double Error { get; init; }

    /// <summary>Weighted count of scored targets that were peaks (actual in the top decile of the history).</summary>
    public double PeakWeight { get; init; }

    /// <summary>Weighted Σ(actual − p50) over peaks.</summary>
    public double PeakError { get; init; }

    /// <summary>Weighted count of actuals at or below the p90.</summary>
    public double Covered { get; init; }

    /// <summary>Recent WAPE.</summary>
    [JsonIgnore]
    public double Wape => AbsActual > 0 ? AbsError / AbsActual : double.NaN;

    /// <summary>Recent mean error (positive: forecasts too low).</summary>
    [JsonIgnore]
    public double Bias => Weight > 0 ? Error / Weight : double.NaN;

    /// <summary>Recent mean error at peaks.</summary>
    [JsonIgnore]
    public double PeakBias => PeakWeight > 0 ? PeakError / PeakWeight : double.NaN;

    /// <summary>Recent share of actuals at or below the p90.</summary>
    [JsonIgnore]
    public double CoverageP90 => Weight > 0 ? Covered / Weight : double.NaN;
}

/// <summary>What every candidate forecast for one target, kept until its actual arrives.</summary>
public sealed class PendingForecast
{
    /// <summary>The target's time.</summary>
    public DateTimeOffset Target { get; set; }

    /// <summary>Steps from the origin.</summary>
    public int Horizon { get; set; }

    /// <summary>Medians indexed by <see cref="ForecastMethod"/>, then what was actually forecast; NaN where none (single precision: a forecast needs no more, and a service keeps a day's worth of these).</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public float[] P50 { get; set; } = [];

    /// <summary>90th percentiles, indexed as <see cref="P50"/>.</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public float[] P90 { get; set; } = [];
}

/// <summary>One line of a forecast's accountability: how a candidate (or <c>forecast</c>, what the PAE actually forecast) has done recently at one horizon.</summary>
/// <param name="Horizon">Steps ahead.</param>
/// <param name="Candidate"><c>forecast</c>, or a <see cref="ForecastMethod"/> name.</param>
/// <param name="Scored">Targets scored so far.</param>
/// <param name="Wape">Recent WAPE.</param>
/// <param name="Bias">Recent mean of actual − p50 (positive: forecasts too low).</param>
/// <param name="PeakBias">The same over actuals in the history's top decile (null before the first peak).</param>
/// <param name="CoverageP90">Recent share of actuals at or below the p90.</param>
public sealed record HorizonScore(int Horizon, string Candidate, int Scored, double? Wape = null, double? Bias = null, double? PeakBias = null, double? CoverageP90 = null)
{
    /// <summary>The name of what the PAE actually forecast.</summary>
    public const string Forecast = "forecast";

    /// <summary>The summary of <paramref name="score"/>, rounded for reading.</summary>
    public static HorizonScore Of(CandidateScore score)
    {
        ArgumentNullException.ThrowIfNull(score);
        return new HorizonScore(score.Horizon, score.Method?.ToString() ?? Forecast, score.Scored, Round(score.Wape, 4), Round(score.Bias, 2), Round(score.PeakBias, 2), Round(score.CoverageP90, 3));
    }

    private static double? Round(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;
}
