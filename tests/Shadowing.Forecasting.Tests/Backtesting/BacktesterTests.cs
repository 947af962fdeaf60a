using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Backtesting;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Tests.Models;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Forecasting.Tests.Backtesting;

public sealed class BacktesterTests
{
    private static readonly DateTimeOffset Start = new(2014, 7, 7, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan HalfHour = TimeSpan.FromMinutes(30);

    [Fact]
    public void Run_SeasonalDemand_BeatsBothSeasonalNaiveBaselines()
    {
        var series = SyntheticSeries.Demand(Start, HalfHour, 48 * 35, seed: 11, noise: 0.08);
        var progress = new List<BacktestProgress>();

        var result = Backtester().Run(series, new BacktestOptions(2, 48 * 28, 48 * 35, 48 * 7), EventCalendar.Empty, progress: new SyncProgress(progress.Add));

        Assert.Equal((48 * 7) - 2, result.Forecast.Points);
        Assert.True(result.Forecast.Wape < result.SeasonalNaiveDayWape, $"model {result.Forecast.Wape:F4} vs day {result.SeasonalNaiveDayWape:F4}");
        Assert.True(result.Forecast.Wape < result.SeasonalNaiveWeekWape, $"model {result.Forecast.Wape:F4} vs week {result.SeasonalNaiveWeekWape:F4}");
        Assert.InRange(result.Forecast.CoverageP90, 0.75, 0.99);
        Assert.Equal(1, result.Trainings);
        Assert.Equal(result.Forecast.Points, progress[^1].OriginsDone);
    }

    [Fact]
    public void Run_ExactlyDailyPeriodic_DayBaselineIsPerfect()
    {
        var values = Enumerable.Range(0, 48 * 6).Select(i => 100.0 + (i % 48)).ToArray();
        var series = new RegularSeries(Start, HalfHour, values);

        var result = Backtester().Run(series, new BacktestOptions(1, 48 * 4, 48 * 5, 48), EventCalendar.Empty);

        Assert.Equal(0, result.SeasonalNaiveDayWape);
        Assert.Null(result.SeasonalNaiveWeekWape); // not a week of history before the targets
        Assert.Equal(2, result.Trainings); // origins 192..240: blocks start at 192 and 240
    }

    [Fact]
    public void Run_ImputedTargets_AreNotScored_AndWindowsAreScoredApart()
    {
        var series = SyntheticSeries.Demand(Start, HalfHour, 48 * 10, seed: 12);
        var imputed = new bool[series.Count];
        imputed[(48 * 9) + 3] = true;
        var withGap = new RegularSeries(series.Start, series.Step, [.. series.Values], imputed);
        var window = (series.TimeAt(48 * 9), series.TimeAt((48 * 9) + 9));

        var result = Backtester().Run(withGap, new BacktestOptions(1, 48 * 9, (48 * 9) + 19, 48), EventCalendar.Empty, [window]);

        Assert.Equal(19, result.Forecast.Points);
        Assert.Equal(11, result.ExcludingWindows!.Points); // 9 targets fall in the window, one of them imputed
        Assert.DoesNotContain(result.Points, p => p.Time == series.TimeAt((48 * 9) + 3));
    }

    [Fact]
    public void Run_TrainsOnlyOnThePast_ResultsUnchangedByLaterValues()
    {
        var series = SyntheticSeries.Demand(Start, HalfHour, 48 * 30, seed: 13);
        var options = new BacktestOptions(3, 48 * 22, 48 * 24, 48);
        var changed = series.Values.Select((v, i) => i > (48 * 24) + 3 ? v * 5 : v).ToArray();

        var a = Backtester().Run(series, options, EventCalendar.Empty);
        var b = Backtester().Run(new RegularSeries(series.Start, series.Step, changed), options, EventCalendar.Empty);

        Assert.Equal(a.Points.Select(p => p.P50), b.Points.Select(p => p.P50));
    }

    [Theory]
    [InlineData(0, 100, 200, 10, "--horizon must be at least 1")]
    [InlineData(1, 0, 200, 10, "--start-index must be between 1 and")]
    [InlineData(1, 100, 50, 10, "--end-index (50) is before --start-index (100)")]
    [InlineData(1, 100, 200, 0, "--retrain-every must be at least 1")]
    public void Run_BadOptions_NameTheFlag(int horizon, int start, int end, int every, string expected)
    {
        var series = SyntheticSeries.Demand(Start, HalfHour, 300, seed: 1);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Backtester().Run(series, new BacktestOptions(horizon, start, end, every), EventCalendar.Empty));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_CycleGivesWayToARandomWalk_SwitchesAwayFromTheModelWithinOneTraining()
    {
        // Trained once on eight days of a daily cycle (a method that follows the cycle wins), then the traffic becomes a
        // random walk: the scoreboard sees the cycle methods' recent errors and drops them long before the next training.
        var cycle = SyntheticSeries.Demand(Start, HalfHour, 48 * 8, seed: 5, noise: 0.03);
        var walk = SyntheticSeries.RandomWalk(Start + (HalfHour * 48 * 8), HalfHour, 48 * 4, seed: 9, level: cycle.Values[^1]);
        var series = new RegularSeries(Start, HalfHour, [.. cycle.Values, .. walk.Values]);

        var result = Backtester().Run(series, new BacktestOptions(1, (48 * 8) - 1, series.Count - 2, series.Count), EventCalendar.Empty);

        Assert.Equal(1, result.Trainings);
        ForecastMethod[] seasonal = [ForecastMethod.Model, ForecastMethod.SeasonalNaiveDay, ForecastMethod.SeasonalNaiveWeek];
        Assert.Contains(result.Points[0].Method, seasonal);
        var lastDay = result.Points.TakeLast(48).ToArray();
        Assert.DoesNotContain(lastDay, p => seasonal.Contains(p.Method));
        var lastDayWape = lastDay.Sum(p => Math.Abs(p.Actual - p.P50)) / lastDay.Sum(p => p.Actual);
        var lastValueWape = lastDay.Sum(p => Math.Abs(p.Actual - series.Values[(int)((p.Time - Start) / HalfHour) - 1])) / lastDay.Sum(p => p.Actual);
        Assert.True(lastDayWape <= 1.1 * lastValueWape, $"last day: WAPE {lastDayWape:F4} vs last value {lastValueWape:F4}");
    }

    private static Backtester Backtester() => new(DemandForecasterTests.Forecaster(), new FakeTimeProvider());

    private sealed class SyncProgress(Action<BacktestProgress> report) : IProgress<BacktestProgress>
    {
        public void Report(BacktestProgress value) => report(value);
    }
}
