namespace Shadowing.Forecasting.Models;

/// <summary>
/// What each candidate (<see cref="ForecastMethod"/>) forecasts for one target; NaN where a candidate has none (no
/// model was trained, or there is not a period of history for a seasonal naive).
/// </summary>
public sealed class CandidateForecasts
{
    /// <summary>How many candidates there are: every <see cref="ForecastMethod"/>.</summary>
    public static readonly int Count = Enum.GetValues<ForecastMethod>().Length;

    /// <summary>Creates an empty set for one target.</summary>
    public CandidateForecasts(int horizon, DateTimeOffset time)
    {
        Horizon = horizon;
        Time = time;
        Array.Fill(P50, double.NaN);
        Array.Fill(P90, double.NaN);
    }

    /// <summary>Steps from the origin to the target.</summary>
    public int Horizon { get; }

    /// <summary>The target's time.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>Median forecasts, indexed by <see cref="ForecastMethod"/>.</summary>
    public double[] P50 { get; } = new double[Count];

    /// <summary>90th-percentile forecasts, indexed by <see cref="ForecastMethod"/>.</summary>
    public double[] P90 { get; } = new double[Count];

    /// <summary>Whether <paramref name="method"/> has a forecast here.</summary>
    public bool Has(ForecastMethod method) => double.IsFinite(P50[(int)method]);

    /// <summary>The forecast of <paramref name="method"/> as a point.</summary>
    public ForecastPoint Point(ForecastMethod method) => new(Horizon, Time, P50[(int)method], P90[(int)method]);

    /// <summary>Sets the forecast of <paramref name="method"/>.</summary>
    public void Set(ForecastMethod method, ForecastPoint point)
    {
        P50[(int)method] = point.P50;
        P90[(int)method] = point.P90;
    }
}
