using Shadowing.Core.TimeSeries;

namespace Shadowing.Forecasting.Features;

/// <summary>
/// The seasonal periods of a series in steps: a "day" cycle and, when the step divides a day, a "week"
/// cycle of seven days. For daily (or coarser) data the short cycle is the week and there is no long one.
/// </summary>
internal readonly record struct Seasonality(int Day, int Week)
{
    public static Seasonality Of(RegularSeries series)
    {
        var day = series.StepsIn(TimeSpan.FromDays(1));
        if (day >= 2)
        {
            return new Seasonality(day, day * 7);
        }

        var week = series.StepsIn(TimeSpan.FromDays(7));
        return new Seasonality(Math.Max(week, 1), 0);
    }

    /// <summary>The smallest multiple of <paramref name="period"/> that reaches back from a target at <paramref name="horizon"/> to the origin or before.</summary>
    public static int Aligned(int period, int horizon) => period * (int)Math.Ceiling(horizon / (double)period);
}
