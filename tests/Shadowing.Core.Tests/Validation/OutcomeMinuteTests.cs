using Shadowing.Core.Mirroring;
using Shadowing.Core.Validation;

namespace Shadowing.Core.Tests.Validation;

public sealed class OutcomeMinuteTests
{
    private static readonly DateTimeOffset Minute = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void With_ABusyMinute_KeepsSamplesFromEveryPartOfIt_SoAWindowStartingLateFindsItsOwn()
    {
        // 50 copies a second, flushed every 2 s as the router does: the whole-minute cap would fill by 0:36.
        var minute = Empty();
        for (var flush = 0; flush < 30; flush++)
        {
            minute = minute.With(Enumerable.Range(flush * 100, 100).Select(i => Outcome(i, Minute.AddMilliseconds(i * 20))));
        }

        Assert.Equal(OutcomeMinute.Cap, minute.Outcomes.Count);
        Assert.Equal(3000 - OutcomeMinute.Cap, minute.Dropped);
        Assert.All(minute.KeptPerSlot(), kept => Assert.Equal(OutcomeMinute.PerSlot, kept));

        // A shadow whose process restarted at 0:45 is judged on its own answers only: the slot from 0:40 kept its first
        // 300 (to 0:46), 50 of them after 0:45, and the slot from 0:50 kept 300.
        Assert.Equal(350, minute.Outcomes.Count(o => o.ReceivedAt >= Minute.AddSeconds(45)));
    }

    [Fact]
    public void With_ARedeliveredOutcome_CountsOnce_AndTakesNoPlaceInItsSlot()
    {
        var minute = Empty().With([Outcome(1, Minute.AddSeconds(12)), Outcome(1, Minute.AddSeconds(12))]);
        minute = minute.With([Outcome(1, Minute.AddSeconds(12)), Outcome(2, Minute.AddSeconds(59))]);

        Assert.Equal(["r1", "r2"], minute.Outcomes.Select(o => o.RequestId));
        Assert.Equal([0, 1, 0, 0, 0, 1], minute.KeptPerSlot());
        Assert.Equal(0, minute.Dropped);
    }

    private static OutcomeMinute Empty() => new() { Service = "orders", Endpoint = "s1", Minute = Minute };

    private static MirrorOutcome Outcome(int i, DateTimeOffset at) => new()
    {
        RequestId = $"r{i}",
        Service = "orders",
        Method = "GET",
        Path = "/items",
        ReceivedAt = at,
        Production = new EndpointAnswer("p1", 200, 1, 10),
        Copy = new EndpointAnswer("s1", 200, 1, 10),
    };
}
