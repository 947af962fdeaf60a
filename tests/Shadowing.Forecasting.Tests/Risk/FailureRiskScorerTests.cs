using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Risk;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Forecasting.Tests.Risk;

public sealed class FailureRiskScorerTests
{
    private static readonly DateTimeOffset Start = new(2014, 5, 5, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan FiveMinutes = TimeSpan.FromMinutes(5);
    private const int Day = 288;

    [Fact]
    public void Score_SustainedLevelShift_RaisesAlarmWithinTheHour()
    {
        // Day 9 is a Wednesday, 09:00 (the synthetic series starts on a Monday).
        var shift = (Day * 9) + 108;
        var series = Shifted(shiftAt: shift, factor: 1.8);

        var risk = Scorer().Score(series);

        // From day 8 on the scorer has seen a whole week (before that, the first weekend can look like a drop).
        var first = risk.Alarms.ToList().IndexOf(true, Day * 8);
        Assert.InRange(first, shift, shift + 24); // persistence 60 min = 12 steps, plus half the smoothing window
        Assert.True(risk.Scores[shift + 30] > 0.9);
    }

    [Fact]
    public void Score_IsolatedSpikes_NoAlarm()
    {
        var values = SyntheticSeries.Demand(Start, FiveMinutes, Day * 14, seed: 31, noise: 0.03).Values.ToArray();
        for (var i = Day * 8; i < values.Length; i += 97)
        {
            values[i] *= 6;
        }

        var risk = Scorer().Score(new RegularSeries(Start, FiveMinutes, values));

        Assert.DoesNotContain(true, risk.Alarms.Skip(Day * 8));
    }

    [Fact]
    public void Score_IsCausal_EarlierScoresIgnoreLaterValues()
    {
        var a = Shifted(shiftAt: Day * 12, factor: 1.8);
        var b = Shifted(shiftAt: Day * 12, factor: 0.3);

        var ra = Scorer().Score(a);
        var rb = Scorer().Score(b);

        Assert.Equal(ra.Scores.Take(Day * 12), rb.Scores.Take(Day * 12));
    }

    [Fact]
    public void Score_DuringWarmUp_NeverAlarms()
    {
        // The warm-up is 15 % of the history scored: 2.1 of these 14 days, whatever the series' length in days.
        var series = Shifted(shiftAt: Day, factor: 3);
        var warmUp = (int)(0.15 * series.Count);

        var risk = Scorer().Score(series);

        Assert.DoesNotContain(true, risk.Alarms.Take(warmUp));
        Assert.All(risk.Scores.Take(warmUp), s => Assert.Equal(0, s));
        Assert.Contains(risk.Scores.Skip(warmUp), s => s > 0);
    }

    [Fact]
    public void ScoreLatest_MatchesTheFullScoreOverTheTail_AndScoresNothingBefore()
    {
        // The Wednesday shift of the first test, inside a five-day tail.
        var shift = (Day * 9) + 108;
        var series = Shifted(shiftAt: shift, factor: 1.8);

        var full = Scorer().Score(series);
        var latest = Scorer().ScoreLatest(series, TimeSpan.FromDays(5));

        var tail = series.Count - (5 * Day);
        Assert.Equal(full.Scores.Skip(tail), latest.Scores.Skip(tail));
        Assert.Equal(full.Alarms.Skip(tail), latest.Alarms.Skip(tail));
        Assert.Contains(true, latest.Alarms.Skip(tail)); // the shift in the tail raises it
        Assert.All(latest.Scores.Take(tail - 12), s => Assert.Equal(0, s)); // before the tail and its smoothing window

        // Whatever the tail, the latest score and alarm are the full score's (a tail starting mid-alarm reaches back).
        foreach (var hours in new[] { 1, 6, 18, 30, 60 })
        {
            var shorter = Scorer().ScoreLatest(series, TimeSpan.FromHours(hours));
            Assert.Equal((full.Scores[^1], full.Alarms[^1]), (shorter.Scores[^1], shorter.Alarms[^1]));
        }
    }

    [Fact]
    public void Combine_TakesHighestScoreAndAnyAlarm()
    {
        var combined = FailureRiskScorer.Combine([new RiskSeries([0.1, 0.9], [false, true]), new RiskSeries([0.5, 0.2], [true, false])]);

        Assert.Equal([0.5, 0.9], combined.Scores);
        Assert.Equal([true, true], combined.Alarms);
    }

    private static RegularSeries Shifted(int shiftAt, double factor)
    {
        var series = SyntheticSeries.Demand(Start, FiveMinutes, Day * 14, seed: 30, noise: 0.03);
        return new RegularSeries(Start, FiveMinutes, [.. series.Values.Select((v, i) => i >= shiftAt ? v * factor : v)]);
    }

    private static FailureRiskScorer Scorer() => new(new RiskOptions());
}
