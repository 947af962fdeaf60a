using Shadowing.Core.Mirroring;
using Shadowing.Core.Serialization;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.Mirroring;

namespace Shadowing.Core.Tests.Validation;

public sealed class OutcomeSlotTests
{
    private static readonly DateTimeOffset Minute = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void StartOf_DividesEveryMinuteIntoWholeSlots()
    {
        Assert.Equal(0, TimeSpan.FromMinutes(1).Ticks % OutcomeSlot.Length.Ticks);
        Assert.Equal(Minute.AddSeconds(44), OutcomeSlot.StartOf(Minute.AddSeconds(47.9)));
        Assert.Equal(Minute.AddSeconds(56), OutcomeSlot.StartOf(Minute.AddSeconds(59.999)));
        Assert.Equal(Minute, OutcomeSlot.StartOf(Minute));
        Assert.Equal(TimeSpan.Zero, OutcomeSlot.StartOf(new DateTimeOffset(2026, 12, 4, 13, 0, 5, TimeSpan.FromHours(1))).Offset);
    }

    [Fact]
    public void With_ABusySlot_KeepsTheCap_CountsTheRest()
    {
        var slot = Empty();
        for (var flush = 0; flush < 2; flush++)
        {
            slot = slot.With(Enumerable.Range(flush * 100, 100).Select(i => Outcome(i, Minute.AddMilliseconds(i * 20))));
        }

        Assert.Equal(OutcomeSlot.Cap, slot.Outcomes.Count);
        Assert.True(slot.IsFull);
        Assert.Equal(200 - OutcomeSlot.Cap, slot.Dropped);
    }

    [Fact]
    public void With_ARedeliveredOutcome_CountsOnce_AndTakesNoPlace()
    {
        var slot = Empty().With([Outcome(1, Minute.AddSeconds(1)), Outcome(1, Minute.AddSeconds(1))]);
        slot = slot.With([Outcome(1, Minute.AddSeconds(1)), Outcome(2, Minute.AddSeconds(3.5))]);

        Assert.Equal(["r1", "r2"], slot.Outcomes.Select(o => o.RequestId));
        Assert.Equal(0, slot.Dropped);
    }

    [Fact]
    public void With_AnOutcomeOfAnotherSlot_IsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => Empty().With([Outcome(7, Minute + OutcomeSlot.Length)]));

        Assert.Contains("r7", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFullSlot_OfTypicalOutcomes_StaysBelowTheLargeObjectThreshold()
    {
        // Why a slot is a document of its own: the router rewrites it as it fills, and a document of 85,000 bytes or more
        // is a large object every time it is read, serialized and copied. Typical outcomes: hex request ids, both bodies
        // digested, a differing path.
        var slot = Empty().With(Enumerable.Range(0, OutcomeSlot.Cap).Select(i => Outcome(i, Minute.AddMilliseconds(i * 30)) with
        {
            RequestId = Convert.ToHexStringLower(BitConverter.GetBytes((long)i * 7919)) + "4bf92f3577b34da6a3ce929d0e0e4736",
            Path = "/items/42",
            SentAt = Minute.AddMilliseconds((i * 30) + 12.345),
            Production = new EndpointAnswer("orders-1", 200, 12.3456789, 1234, new string('a', 64)),
            Copy = new EndpointAnswer("orders-shadow-1a2b3c4d", 200, 13.3456789, 1234, new string('b', 64)),
            DifferingPaths = ["$.updatedAt"],
            Compared = true,
        }));

        var bytes = ShadowingJson.Serialize(slot).Length;

        Assert.InRange(bytes, 40_000, 84_999);
    }

    private static OutcomeSlot Empty() => new() { Service = "orders", Endpoint = "s1", Start = Minute };

    private static MirrorOutcome Outcome(int i, DateTimeOffset at) => Outcomes.Answered($"r{i}", at);
}
