using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Risk;

namespace Shadowing.Forecasting.Tests.Risk;

public sealed class RiskEvaluationTests
{
    private static readonly DateTimeOffset Start = new(2014, 5, 5, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);

    [Fact]
    public void Score_DetectionAtAWindowsStart_EarnsFullCredit_LateLess_MissedCostsOne_FalseAlarmsCostLittle()
    {
        // 1,000 steps; probation is the first 150. Windows at 300–399 and 600–699.
        var series = new LabelledSeries("s", Flat(1000), [(At(300), At(399)), (At(600), At(699))]);

        var early = RiskEvaluation.Score(series, Alarms(1000, 300));
        var late = RiskEvaluation.Score(series, Alarms(1000, 390));
        var both = RiskEvaluation.Score(series, Alarms(1000, 300, 600));
        var none = RiskEvaluation.Score(series, Alarms(1000));
        var falseAlarm = RiskEvaluation.Score(series, Alarms(1000, 200, 300, 600));
        var inProbation = RiskEvaluation.Score(series, Alarms(1000, 100, 300, 600));

        Assert.Equal(0, early.Raw, 6); // +1 for the first window, −1 for the missed second
        Assert.True(late.Raw < early.Raw && late.Raw > -2);
        Assert.Equal(100, both.Normalized, 6);
        Assert.Equal(0, none.Normalized, 6);
        Assert.Equal(both.Raw - 0.11, falseAlarm.Raw, 6); // before any window: the full false-positive weight
        Assert.Equal(1, falseAlarm.FalseAlarms);
        Assert.Equal(both.Raw, inProbation.Raw, 6);

        // A window that ends inside the probation is not scored at all.
        var inside = new LabelledSeries("e", Flat(1000), [(At(100), At(120)), (At(300), At(399))]);
        Assert.Equal(1, RiskEvaluation.Score(inside, Alarms(1000, 300)).Perfect, 6);
    }

    [Fact]
    public void LeaveOneSeriesOut_ScoresEachSeriesWithSettingsChosenOnTheOthers()
    {
        // Two series with a clear level shift and one that is noise: the noise one must not influence its own settings.
        var data = new[]
        {
            Shifted("a", seed: 1),
            Shifted("b", seed: 2),
            Shifted("c", seed: 3),
        };

        var result = RiskEvaluation.LeaveOneSeriesOut(data, new RiskOptions());

        Assert.Equal(["a", "b", "c"], result.Series.Select(s => s.Name));
        Assert.All(result.Series, s => Assert.Equal(1, s.Score.Detected));
        Assert.True(result.Total.Normalized > 50, $"held-out score {result.Total.Normalized:F1}");
        Assert.Contains(result.OnAll, RiskEvaluation.Grid);
    }

    [Fact]
    public void LeaveOneSeriesOut_Cancelled_StopsInsteadOfScoringEveryGridPoint()
    {
        using var cancel = new CancellationTokenSource();
        var scored = 0;
        var progress = new SynchronousProgress(n =>
        {
            scored = n;
            cancel.Cancel(); // Ctrl-C during the first series
        });

        Assert.Throws<OperationCanceledException>(() => RiskEvaluation.LeaveOneSeriesOut([Shifted("a", seed: 1), Shifted("b", seed: 2)], new RiskOptions(), progress, cancel.Token));
        Assert.Equal(1, scored);
    }

    private sealed class SynchronousProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }

    private static LabelledSeries Shifted(string name, int seed)
    {
        const int day = 288;
        var series = TestUtilities.Data.SyntheticSeries.Demand(Start, Step, day * 14, seed: seed, noise: 0.03);
        var shift = (day * 10) + 100;
        var values = series.Values.Select((v, i) => i >= shift && i < shift + 60 ? v * 2.5 : v).ToArray();
        return new LabelledSeries(name, new RegularSeries(Start, Step, values), [(series.TimeAt(shift - 6), series.TimeAt(shift + 60))]);
    }

    private static RegularSeries Flat(int count) => new(Start, Step, Enumerable.Repeat(1.0, count).ToArray());

    private static DateTimeOffset At(int index) => Start + (Step * index);

    private static bool[] Alarms(int count, params int[] starts)
    {
        var alarms = new bool[count];
        foreach (var start in starts)
        {
            alarms[start] = alarms[start + 1] = true;
        }

        return alarms;
    }
}
