using Shadowing.Forecasting.Pae;

namespace Shadowing.Forecasting.Tests.Pae;

public sealed class ForecastTimerServiceTests
{
    private static readonly PaeOptions Options = new() { Interval = TimeSpan.FromMinutes(5), SettleTime = TimeSpan.FromMinutes(1) };

    [Theory]
    [InlineData("12:03:10", "12:06:00")] // started mid-step: the next time the step that just ended has settled
    [InlineData("12:06:00", "12:11:00")] // a run's own time: the next one
    [InlineData("12:06:20", "12:11:00")] // a run that took 20 s: still on the schedule, not 5 minutes after it ended
    [InlineData("12:12:30", "12:16:00")] // a run that took over an interval: the next time on the schedule
    [InlineData("12:00:30", "12:01:00")]
    public void UntilNextRun_RunsASettleTimePastEachInterval(string now, string next)
    {
        var at = DateTimeOffset.Parse($"2026-12-05T{now}Z", System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(DateTimeOffset.Parse($"2026-12-05T{next}Z", System.Globalization.CultureInfo.InvariantCulture), at + ForecastTimerService.UntilNextRun(Options, at));
    }
}
