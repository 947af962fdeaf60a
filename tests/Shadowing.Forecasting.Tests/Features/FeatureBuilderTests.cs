using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Features;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Forecasting.Tests.Features;

public sealed class FeatureBuilderTests
{
    private static readonly DateTimeOffset Start = new(2014, 7, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(true, 1)]
    [InlineData(true, 5)]
    [InlineData(true, 60)]
    [InlineData(false, 5)]
    public void Fill_ReadsNothingAfterTheOrigin(bool useWeek, int horizon)
    {
        var series = SyntheticSeries.Demand(Start, TimeSpan.FromMinutes(30), 48 * 30, seed: 1);
        var changed = series.Values.ToArray();
        var builder = Builder(series, useWeek);
        var origin = builder.MinOrigin(horizon) + 10;
        for (var i = origin + 1; i < changed.Length; i++)
        {
            changed[i] *= 3;
        }

        var before = new float[builder.Count];
        var after = new float[builder.Count];
        builder.Fill(origin, horizon, before);
        Builder(new RegularSeries(series.Start, series.Step, changed), useWeek).Fill(origin, horizon, after);

        Assert.Equal(before, after);
    }

    [Fact]
    public void MinOrigin_WithWeek_CoversThreeWeeksAlignedToTheHorizon()
    {
        var series = SyntheticSeries.Demand(Start, TimeSpan.FromMinutes(30), 48 * 30, seed: 1);
        var builder = Builder(series, useWeek: true);

        Assert.Equal(3 * 336, builder.MinOrigin(5));
        Assert.Equal(35, builder.Count);
        var features = new float[builder.Count];
        builder.Fill(builder.MinOrigin(5), 5, features); // no index below zero
        Assert.All(features, f => Assert.True(float.IsFinite(f)));
    }

    [Fact]
    public void Fill_CalendarFeaturesDescribeTheTarget()
    {
        var start = new DateTimeOffset(2014, 6, 28, 0, 0, 0, TimeSpan.Zero);
        var series = SyntheticSeries.Demand(start, TimeSpan.FromMinutes(30), 48 * 10, seed: 1);
        var events = new EventCalendar([new CalendarEvent(start.AddDays(7), start.AddDays(8), "launch", "campaign", 2)]);
        var builder = new FeatureBuilder(series, Seasonality.Of(series), false, new PublicHolidayCalendar("US"), events);
        var features = new float[builder.Count];

        // Origin 2014-07-03 23:30, target 2014-07-04 00:00: Independence Day.
        builder.Fill((6 * 48) - 1, 1, features);
        Assert.Equal(0f, features[13]); // minute of day
        Assert.Equal((float)DayOfWeek.Friday, features[14]);
        Assert.Equal(1f, features[15]); // holiday on the target day
        Assert.Equal(0f, features[16]); // the day after
        Assert.Equal(0f, features[17]); // the day before
        Assert.Equal(0f, features[19]); // the origin's day

        // Target inside the event: flag and log(2).
        builder.Fill((7 * 48) + 10, 1, features);
        Assert.Equal(1f, features[20]);
        Assert.Equal((float)Math.Log(2), features[21], 5);
    }

    [Fact]
    public void Fill_CalendarFeatures_AreReadInTheCalendarsTimeZone()
    {
        // UTC-stamped demand of a US-Pacific service: target 2026-12-26 04:00 UTC is Christmas evening, 20:00 on
        // Friday the 25th, there. Read in UTC it would be 04:00 on Saturday the 26th, the day after Christmas.
        var start = new DateTimeOffset(2026, 12, 18, 0, 0, 0, TimeSpan.Zero);
        var series = SyntheticSeries.Demand(start, TimeSpan.FromMinutes(30), 48 * 10, seed: 1);
        var pacific = TimeZones.Find("America/Los_Angeles", out _)!;
        var local = new FeatureBuilder(series, Seasonality.Of(series), false, new PublicHolidayCalendar("US", pacific), EventCalendar.Empty);
        var utc = Builder(series, useWeek: false);
        var origin = series.IndexAtOrBefore(new DateTimeOffset(2026, 12, 26, 3, 30, 0, TimeSpan.Zero));
        var features = new float[local.Count];

        local.Fill(origin, 1, features);
        Assert.Equal(20 * 60f, features[13]); // minute of day
        Assert.Equal((float)DayOfWeek.Friday, features[14]);
        Assert.Equal(1f, features[15]); // holiday on the target day
        Assert.Equal(0f, features[17]); // the day before
        Assert.Equal(1f, features[19]); // the origin's day, 19:30 on the 25th there

        utc.Fill(origin, 1, features);
        Assert.Equal(4 * 60f, features[13]);
        Assert.Equal((float)DayOfWeek.Saturday, features[14]);
        Assert.Equal(0f, features[15]);
        Assert.Equal(1f, features[17]);
    }

    [Fact]
    public void Fill_ADaylightSavingChange_KeepsTheLocalTimeOfDay()
    {
        // New York leaves daylight saving time on 2026-11-01: 13:00 UTC is 09:00 before and 08:00 after.
        var start = new DateTimeOffset(2026, 10, 20, 0, 0, 0, TimeSpan.Zero);
        var series = SyntheticSeries.Demand(start, TimeSpan.FromMinutes(30), 48 * 20, seed: 1);
        var eastern = TimeZones.Find("America/New_York", out _)!;
        var builder = new FeatureBuilder(series, Seasonality.Of(series), false, new NoHolidays(eastern), EventCalendar.Empty);
        var features = new float[builder.Count];

        builder.Fill(series.IndexAtOrBefore(new DateTimeOffset(2026, 10, 31, 12, 30, 0, TimeSpan.Zero)), 1, features);
        Assert.Equal(9 * 60f, features[13]);
        builder.Fill(series.IndexAtOrBefore(new DateTimeOffset(2026, 11, 2, 13, 30, 0, TimeSpan.Zero)), 1, features);
        Assert.Equal(9 * 60f, features[13]);
    }

    private static FeatureBuilder Builder(RegularSeries series, bool useWeek) =>
        new(series, Seasonality.Of(series), useWeek, new PublicHolidayCalendar("US"), EventCalendar.Empty);
}
