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
