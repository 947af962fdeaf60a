using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Backtesting;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Tests.Models;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Forecasting.Tests.Calendar;

/// <summary>Holidays and events must change forecasts: the model learns their effect from earlier ones.</summary>
public sealed class CalendarRegressorTests
{
    private static readonly DateTimeOffset Start = new(2014, 6, 2, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan HalfHour = TimeSpan.FromMinutes(30);

    [Theory]
    [InlineData(2021, 12, 31, true)] // New Year's Day 2022 is a Saturday: observed on Friday 31 December, listed under 2022
    [InlineData(2027, 12, 31, true)]
    [InlineData(2022, 12, 30, false)]
    [InlineData(2022, 1, 1, false)] // a Saturday: the day off is the Friday before
    [InlineData(2023, 1, 2, true)] // New Year's Day 2023 is a Sunday: observed on Monday
    public void IsHoliday_AHolidayObservedInTheYearBefore_CountsOnTheDayItIsObserved(int year, int month, int day, bool expected) =>
        Assert.Equal(expected, new PublicHolidayCalendar("US").IsHoliday(new DateOnly(year, month, day)));

    [Fact]
    public void Holidays_KnownToTheModel_ForecastHolidayDemandBetter()
    {
        var us = new PublicHolidayCalendar("US");
        var series = SyntheticSeries.Demand(Start, HalfHour, 48 * 210, seed: 21, noise: 0.04, multiplier: t => us.IsHoliday(DateOnly.FromDateTime(t.UtcDateTime)) ? 0.4 : 1);
        var thanksgiving = series.IndexAtOrBefore(new DateTimeOffset(2014, 11, 26, 0, 0, 0, TimeSpan.Zero));
        var options = new BacktestOptions(16, thanksgiving, thanksgiving + (48 * 4), 48 * 7); // 8 hours ahead: recent values cannot tell yet

        var with = new Backtester(DemandForecasterTests.Forecaster(us), new FakeTimeProvider()).Run(series, options, EventCalendar.Empty);
        var without = new Backtester(DemandForecasterTests.Forecaster(NoHolidays.Instance), new FakeTimeProvider()).Run(series, options, EventCalendar.Empty);

        var onHoliday = (BacktestResult r) => Wape(r.Points.Where(p => us.IsHoliday(DateOnly.FromDateTime(p.Time.UtcDateTime))));
        Assert.True(onHoliday(with) < onHoliday(without) * 0.7, $"on Thanksgiving: with holidays {onHoliday(with):F4}, without {onHoliday(without):F4}");
        Assert.True(with.Forecast.Wape < without.Forecast.Wape, $"overall: with holidays {with.Forecast.Wape:F4}, without {without.Forecast.Wape:F4}");
    }

    [Fact]
    public void Events_WithExpectedMultiplier_ForecastCampaignDemandBetter()
    {
        var events = Enumerable.Range(0, 12)
            .Select(k => Start.AddDays(9 + (k * 8)).AddHours(10))
            .Select(s => new CalendarEvent(s, s.AddHours(6), "campaign", "campaign", 2.5))
            .ToArray();
        var calendar = new EventCalendar(events);
        var series = SyntheticSeries.Demand(Start, HalfHour, 48 * 105, seed: 22, noise: 0.04, multiplier: t => calendar.At(t, TimeSpan.Zero).Active ? 2.5 : 1);
        var last = events[^1].Start;
        var first = series.IndexAtOrBefore(last) - 8;
        var options = new BacktestOptions(4, first, first + 24, 48 * 7);

        var with = new Backtester(DemandForecasterTests.Forecaster(), new FakeTimeProvider()).Run(series, options, calendar);
        var without = new Backtester(DemandForecasterTests.Forecaster(), new FakeTimeProvider()).Run(series, options, EventCalendar.Empty);

        Assert.True(with.Forecast.Wape < without.Forecast.Wape * 0.7, $"with events {with.Forecast.Wape:F4}, without {without.Forecast.Wape:F4}");
    }

    private static double Wape(IEnumerable<BacktestPoint> points) =>
        points.Sum(p => Math.Abs(p.Actual - p.P50)) / points.Sum(p => Math.Abs(p.Actual));

    [Fact]
    public void At_AnEventStartingWithinAStep_IsOnInThatStep()
    {
        // A campaign from 13:02: the 13:00 step holds its onset (it was "no event", and a baseline could forecast it).
        var at = new DateTimeOffset(2026, 12, 4, 13, 2, 0, TimeSpan.Zero);
        var calendar = new EventCalendar([new CalendarEvent(at, at.AddHours(1), "sale", "campaign", 2)]);
        var step = TimeSpan.FromMinutes(5);

        Assert.False(calendar.At(at.AddMinutes(-7), step).Active); // 12:55-13:00
        Assert.True(calendar.At(at.AddMinutes(-2), step).Active); // 13:00-13:05
        Assert.Equal(Math.Log(2), calendar.At(at.AddMinutes(-2), step).LogMultiplier, 6);
        Assert.False(calendar.At(at.AddMinutes(-2), TimeSpan.Zero).Active); // the instant 13:00
        Assert.False(calendar.At(at.AddHours(1), step).Active); // ended at the step's start
    }

    [Fact]
    public void ReadCsv_SharedExampleFormat_ReadsEvents()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "start,end,name,kind\n2014-11-02 00:00:00,2014-11-03 00:00:00,NYC Marathon,event\n2015-01-26 12:00:00,2015-01-28 00:00:00,Blizzard,news,0.4\n");
        try
        {
            var calendar = EventCalendar.ReadCsv(path);

            Assert.Equal(2, calendar.Events.Count);
            Assert.True(calendar.At(new DateTimeOffset(2014, 11, 2, 9, 0, 0, TimeSpan.Zero), TimeSpan.Zero).Active);
            Assert.False(calendar.At(new DateTimeOffset(2014, 11, 3, 0, 0, 0, TimeSpan.Zero), TimeSpan.FromMinutes(30)).Active);
            Assert.Equal(Math.Log(0.4), calendar.At(new DateTimeOffset(2015, 1, 27, 0, 0, 0, TimeSpan.Zero), TimeSpan.Zero).LogMultiplier, 6);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("start,end,name,kind\n2014-11-02,2014-11-01,x,event\n", "row 2: end 2014-11-01 is not after start")]
    [InlineData("start,end,name,kind\nsoon,2014-11-01,x,event\n", "row 2: start 'soon' is not a timestamp")]
    [InlineData("start,end,name,kind\n2014-11-01,2014-11-02,x,event,-1\n", "row 2: multiplier '-1' must be a positive number")]
    [InlineData("start,end,name,kind\n2014-11-01,2014-11-02\n", "row 2: expected 'start,end,name,kind[,multiplier]'")]
    public void ReadCsv_BadRow_NamesIt(string csv, string expected)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, csv);
        try
        {
            var error = Assert.Throws<TimeSeriesFormatException>(() => EventCalendar.ReadCsv(path));
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void PublicHolidayCalendar_UnknownCountry_SaysSo()
    {
        var error = Assert.Throws<ArgumentException>(() => new PublicHolidayCalendar("XX"));

        Assert.Contains("'XX'", error.Message, StringComparison.Ordinal);
    }
}
