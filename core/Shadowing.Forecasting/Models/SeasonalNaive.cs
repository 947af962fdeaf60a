using Shadowing.Core.TimeSeries;

namespace Shadowing.Forecasting.Models;

/// <summary>
/// The seasonal-naive baselines: the value one period (a day, or a week) before the target, taking whole
/// periods back until the value is at or before the origin.
/// </summary>
public static class SeasonalNaive
{
    /// <summary>The forecast of <c>origin + horizon</c>, or null when there is not a period of history.</summary>
    public static double? Forecast(RegularSeries series, int origin, int horizon, int period)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (period <= 0)
        {
            return null;
        }

        var back = period * (int)Math.Ceiling(horizon / (double)period);
        var index = origin + horizon - back;
        return index >= 0 && index <= origin ? series.Values[index] : null;
    }
}
