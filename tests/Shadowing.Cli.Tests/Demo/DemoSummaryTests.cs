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
    public void WhyLate_AFirstForecastTooCloseToTheSpike_SaysSoAndWhatToChange()
    {
        // demo --duration 2h at 720x: the spike 70 simulated minutes in, the first forecast at about 1.5 hours.
        var late = Summary(spike: Start.AddMinutes(10), firstForecast: Start.AddMinutes(-24));

        Assert.Equal(" (the PAE's first forecast came at 12:36, 34 simulated minutes before it: its first training takes seconds of real time, many simulated minutes at 720×; a longer --duration or a lower --speed leaves time to provision, warm up and validate a shadow)", late.WhyLate());
        Assert.Contains("never came", Summary(spike: Start, firstForecast: null).WhyLate(), StringComparison.Ordinal);
        Assert.Empty(Summary(spike: Start.AddMinutes(10), firstForecast: Start.AddMinutes(-90)).WhyLate()); // in time: late for other reasons
        Assert.Empty(Summary(spike: null, firstForecast: null).WhyLate());
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
