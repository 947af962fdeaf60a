using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;

namespace Shadowing.Forecasting.Features;

/// <summary>
/// Turns (origin, horizon) into model features, reading only values at or before the origin. Everything is in
/// log space (log(1+y)) relative to the value at the origin, so that one model serves every level of demand:
/// <list type="bullet">
/// <item>recent changes: the origin against 1, 2, 3, 4, 6, 12 and 24 steps before;</item>
/// <item>seasonal lags aligned to the target time: the value a day (and one, two, three weeks) before the target,
/// relative to now, and how much the series moved between the origin time and the target time then
/// (one, two, three days and weeks ago, with their medians);</item>
/// <item>rolling statistics: the last day's mean against the day (and week) before, the last six steps against the
/// same steps a day (and week) before;</item>
/// <item>the target's calendar, in the holiday calendar's time zone: minute of day, day of week, public holiday on
/// the target day, the day after, the day before and a week before, holiday at the origin; events on at the target
/// and at the origin, with the log of their expected multiplier;</item>
/// <item>the horizon and the log level at the origin.</item>
/// </list>
/// The week features are included only when <c>useWeek</c> is set (enough history).
/// </summary>
internal sealed class FeatureBuilder
{
    private static readonly int[] RecentLags = [1, 2, 3, 4, 6, 12, 24];
    private readonly double[] _log;
    private readonly RegularSeries _series;
    private readonly IHolidayCalendar _holidays;
    private readonly EventCalendar _events;
    private readonly int _day;
    private readonly int _week;

    public FeatureBuilder(RegularSeries series, Seasonality seasonality, bool useWeek, IHolidayCalendar holidays, EventCalendar events)
    {
        _series = series;
        _holidays = holidays;
        _events = events;
        _day = seasonality.Day;
        _week = useWeek ? seasonality.Week : 0;
        var values = series.Span;
        _log = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            _log[i] = Math.Log(1 + values[i]);
        }

        Count = 25 + (_week > 0 ? 10 : 0);
    }

    public int Count { get; }

    public bool UsesWeek => _week > 0;

    /// <summary>log(1+y) of value <paramref name="index"/>.</summary>
    public double LogAt(int index) => _log[index];

    /// <summary>The first origin whose features for horizons up to <paramref name="maxHorizon"/> need no value before the series start.</summary>
    public int MinOrigin(int maxHorizon)
    {
        var d = Seasonality.Aligned(_day, maxHorizon);
        var min = Math.Max(Math.Max(RecentLags[^1], 3 * d), d + _day);
        if (_week > 0)
        {
            var w = Seasonality.Aligned(_week, maxHorizon);
            min = Math.Max(min, Math.Max(3 * w, w + _day));
        }

        return min;
    }

    /// <summary>Writes the features of predicting <c>origin + horizon</c> from <paramref name="origin"/>.</summary>
    public void Fill(int origin, int horizon, Span<float> features)
    {
        var o = origin;
        var t = origin + horizon;
        var b = _log[o];
        var i = 0;
        foreach (var k in RecentLags)
        {
            features[i++] = (float)(b - _log[o - k]);
        }

        var d = Seasonality.Aligned(_day, horizon);
        features[i++] = (float)(_log[t - d] - b);
        var d1 = _log[t - d] - _log[o - d];
        var d2 = _log[t - (2 * d)] - _log[o - (2 * d)];
        var d3 = _log[t - (3 * d)] - _log[o - (3 * d)];
        features[i++] = (float)d1;
        features[i++] = (float)d2;
        features[i++] = (float)Median(d1, d2, d3);
        features[i++] = (float)(MeanLog(o, _day) - MeanLog(o - d, _day));
        features[i++] = (float)(MeanLog(o, 6) - MeanLog(o - d, 6));

        var target = _series.TimeAt(o) + (_series.Step * horizon);
        var local = Local(target);
        var targetDate = DateOnly.FromDateTime(local);
        features[i++] = (float)local.TimeOfDay.TotalMinutes;
        features[i++] = (int)local.DayOfWeek;
        features[i++] = Flag(_holidays.IsHoliday(targetDate));
        features[i++] = Flag(_holidays.IsHoliday(targetDate.AddDays(1)));
        features[i++] = Flag(_holidays.IsHoliday(targetDate.AddDays(-1)));
        features[i++] = Flag(_holidays.IsHoliday(targetDate.AddDays(-7)));
        features[i++] = Flag(_holidays.IsHoliday(DateOnly.FromDateTime(Local(_series.TimeAt(o)))));
        var (eventAtTarget, logMultiplier) = _events.At(target, _series.Step);
        features[i++] = Flag(eventAtTarget);
        features[i++] = (float)logMultiplier;
        features[i++] = Flag(_events.At(_series.TimeAt(o), _series.Step).Active);
        features[i++] = horizon;
        features[i++] = (float)b;

        if (_week > 0)
        {
            var w = Seasonality.Aligned(_week, horizon);
            features[i++] = (float)(_log[t - w] - b);
            features[i++] = (float)(_log[t - (2 * w)] - b);
            features[i++] = (float)(_log[t - (3 * w)] - b);
            var w1 = _log[t - w] - _log[o - w];
            var w2 = _log[t - (2 * w)] - _log[o - (2 * w)];
            var w3 = _log[t - (3 * w)] - _log[o - (3 * w)];
            features[i++] = (float)w1;
            features[i++] = (float)w2;
            features[i++] = (float)Median(w1, w2, w3);
            features[i++] = (float)((w1 + w2 + w3) / 3);
            features[i++] = (float)(MeanLog(o, _day) - MeanLog(o - w, _day));
            features[i++] = (float)(MeanLog(o, 6) - MeanLog(o - w, 6));
            features[i++] = Flag(_holidays.IsHoliday(targetDate.AddDays(-14)));
        }
    }

    private static float Flag(bool value) => value ? 1f : 0f;

    /// <summary>The wall-clock time of <paramref name="time"/> in the calendar's time zone.</summary>
    private DateTime Local(DateTimeOffset time) => TimeZoneInfo.ConvertTimeFromUtc(time.UtcDateTime, _holidays.TimeZone);

    private static double Median(double a, double b, double c) => Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));

    private double MeanLog(int end, int length)
    {
        var sum = 0.0;
        for (var k = 0; k < length; k++)
        {
            sum += _log[end - k];
        }

        return sum / length;
    }
}
