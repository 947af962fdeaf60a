namespace Shadowing.Forecasting.Models;

/// <summary>A forecast of one future step.</summary>
/// <param name="Horizon">Steps after the origin.</param>
/// <param name="Time">The time forecast.</param>
/// <param name="P50">Median forecast.</param>
/// <param name="P90">90th percentile: demand stays at or below this nine times in ten.</param>
public readonly record struct ForecastPoint(int Horizon, DateTimeOffset Time, double P50, double P90);

/// <summary>What produced a forecast.</summary>
public enum ForecastMethod
{
    /// <summary>The gradient-boosted model.</summary>
    Model,

    /// <summary>Seasonal naive with the daily period.</summary>
    SeasonalNaiveDay,

    /// <summary>Seasonal naive with the weekly period.</summary>
    SeasonalNaiveWeek,

    /// <summary>The last value (persistence).</summary>
    LastValue,

    /// <summary>The other four averaged with weights 1 / WAPE², from their recent scored errors.</summary>
    Combination,
}
