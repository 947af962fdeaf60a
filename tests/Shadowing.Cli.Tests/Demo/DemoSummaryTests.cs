using Shadowing.Cli.Demo;
using Shadowing.Core.Shadows;

namespace Shadowing.Cli.Tests.Demo;

public sealed class DemoSummaryTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 27, 13, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ShadowRequested_GrownLater_SaysWhatWasAskedFirstAndWhatItGrewTo()
    {
        // The summary used to put the first request's time next to the count and window it reached hours later, as if
        // the PAE had foreseen three shadows for the whole campaign at 11:26.
        var first = Request(count: 1, end: Start.AddMinutes(20), updated: Start.AddMinutes(-94));
        var last = first with { Count = 3, WindowEnd = Start.AddHours(3), UpdatedAt = Start.AddMinutes(66), Reason = "later" };

        var line = DemoSummary.Requested(DemoRequest.From(first, last));

        Assert.Equal("2026-11-27 11:26 by the PAE (Demand): 1 shadow(s) for 13:00–13:20; by 14:06 3 shadow(s) for 13:00–16:00", line);
        Assert.Equal("2026-11-27 11:26 by the PAE (Demand): 1 shadow(s) for 13:00–13:20", DemoSummary.Requested(DemoRequest.From(first, first)));
        Assert.Equal(("first", 1, 3), (DemoRequest.From(first, last).Reason, DemoRequest.From(first, last).FirstCount, DemoRequest.From(first, last).Count));
    }

    [Fact]
    public void StoppedByCtrlC_BeforeTheSpike_NotJudgedLate_AfterItWithoutAShadow_Failed_AndTheLinesSaySo()
    {
        var spike = Start.AddMinutes(10);
        var before = Summary(spike, firstForecast: null) with { StoppedAt = Start };
        var after = Summary(spike, firstForecast: null) with { StoppedAt = spike.AddMinutes(5) };

        Assert.True(before.Succeeded);
        Assert.False(after.Succeeded); // the spike came and no shadow was ready: stopping later does not hide that
        Assert.False(Summary(spike, firstForecast: null).Succeeded);
        Assert.Contains(before.Lines(), l => l.Name == "stopped" && l.Value.StartsWith("at 2026-11-27 13:00 by Ctrl+C", StringComparison.Ordinal));
        Assert.DoesNotContain(Summary(spike, firstForecast: null).Lines(), l => l.Name == "stopped");
    }

    [Fact]
    public void WhyLate_SaysWhenThePaeForecastAndAskedAndWhenAShadowWasReady()
    {
        // demo --duration 2h at 720x, as measured once: first forecast 12:11, asked 12:46, PreWarmed 13:10:04, spike 13:10.
        var late = Summary(spike: Start.AddMinutes(10), firstForecast: Start.AddMinutes(-49)) with
        {
            PreWarmedAt = Start.AddMinutes(10).AddSeconds(4),
            ShadowRequest = DemoRequest.From(Request(count: 1, end: Start.AddMinutes(105), updated: Start.AddMinutes(-14)) with { CreatedAt = Start.AddMinutes(-14) }, Request(count: 1, end: Start.AddMinutes(105), updated: Start.AddMinutes(-14)) with { CreatedAt = Start.AddMinutes(-14) }),
        };

        Assert.Equal(" (the PAE asked for a shadow at 12:46, 24 simulated minutes before it; its first forecast came at 12:11; the first shadow was PreWarmed at 13:10. Starting, warming up and validating a shadow takes real seconds, many simulated minutes at 720×: a longer --duration or a lower --speed leaves more time)", late.WhyLate());
        Assert.StartsWith(" (the PAE asked for no shadow; it made no forecast; no shadow was PreWarmed.", Summary(spike: Start, firstForecast: null).WhyLate(), StringComparison.Ordinal);
        Assert.Empty(Summary(spike: null, firstForecast: null).WhyLate());
        var after = Request(count: 1, end: Start.AddMinutes(105), updated: Start.AddMinutes(20)) with { CreatedAt = Start.AddMinutes(20) };
        Assert.Contains("at 13:20, 10 simulated minutes after it", (late with { ShadowRequest = DemoRequest.From(after, after) }).WhyLate(), StringComparison.Ordinal);
    }

    [Fact]
    public void Times_OnAnotherDayThanTheRequestOrSpike_CarryTheirDate()
    {
        // A 2-day run: asked in the evening for a window into the next morning, grown the next day.
        var evening = new DateTimeOffset(2026, 11, 26, 22, 30, 0, TimeSpan.Zero);
        var first = Request(count: 1, end: Start.AddHours(-12), updated: evening) with { CreatedAt = evening, WindowStart = evening.AddMinutes(60) };
        var last = first with { Count = 2, WindowEnd = Start, UpdatedAt = Start.AddHours(-10) };

        Assert.Equal("2026-11-26 22:30 by the PAE (Demand): 1 shadow(s) for 23:30–11-27 01:00; by 11-27 03:00 2 shadow(s) for 23:30–11-27 13:00", DemoSummary.Requested(DemoRequest.From(first, last)));
        var late = Summary(spike: Start, firstForecast: evening.AddHours(-1)) with { ShadowRequest = DemoRequest.From(first, last) };
        Assert.StartsWith(" (the PAE asked for a shadow at 11-26 22:30, 870 simulated minutes before it; its first forecast came at 11-26 21:30;", late.WhyLate(), StringComparison.Ordinal);
    }

    private static DemoSummary Summary(DateTimeOffset? spike, DateTimeOffset? firstForecast) => new()
    {
        Trace = "synthetic",
        Speed = 720,
        SimulatedFrom = Start.AddHours(-1),
        SimulatedTo = Start.AddHours(1),
        RealSeconds = 10,
        Requests = 1,
        FailedRequests = 0,
        SpikeOnset = spike,
        FirstForecastAt = firstForecast,
        Verdicts = new Dictionary<string, string>(),
        Warnings = 0,
        ReportDir = "report",
    };

    private static ShadowRequest Request(int count, DateTimeOffset end, DateTimeOffset updated) => new()
    {
        Id = "orders/20261127T1300Z",
        Service = "orders",
        Count = count,
        WindowStart = Start,
        WindowEnd = end,
        Kinds = [ShadowRequestKind.Demand],
        Reason = "first",
        CreatedAt = Start.AddMinutes(-94),
        UpdatedAt = updated,
    };
}
