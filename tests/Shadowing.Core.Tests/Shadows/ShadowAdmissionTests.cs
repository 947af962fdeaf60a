using Shadowing.Core.Shadows;

namespace Shadowing.Core.Tests.Shadows;

public sealed class ShadowAdmissionTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly ShadowGuardRails Rails = new() { MaxShadowsPerService = 3, MaxShadowsTotal = 5, EndpointHoursPerDay = 10 };

    [Theory]
    [InlineData(2, 14, 2, 15, 6)] // an hour later for both: 4 + 2
    [InlineData(2, 14, 3, 14, 5)] // one more from 13:00 to 14:00: 4 + 1
    [InlineData(2, 14, 1, 14, 3)] // one fewer from 13:00: 4 − 1
    [InlineData(2, 14, 2, 13, 2)] // ended at 13:00: 4 − 2
    [InlineData(2, 14, 2, 11, 0)] // an end before the start charges nothing, not less
    public void Recharged_FromWhatWasCharged_ShadowsAddedOrRemovedCountFromTheChange(int count, int endHour, int newCount, int newEndHour, double expected)
    {
        // Charged 4 endpoint-hours for 2 shadows 12:00–14:00; changed at 13:00.
        var hours = ShadowAdmission.Recharged(4, count, Start.AddHours(endHour - 12), newCount, Start.AddHours(newEndHour - 12), Start.AddHours(1));

        Assert.Equal(expected, hours, 9);
    }

    [Fact]
    public void Decide_WithinEveryRail_AdmitsAndChargesShadowsTimesHours()
    {
        var plan = ShadowAdmission.Decide(Request(count: 2, hours: 2), Rails, killSwitch: false, runningInService: 1, runningTotal: 3, hoursCharged: 6, Start);

        Assert.Equal(ShadowPlanDecision.Admitted, plan.Decision);
        Assert.Equal(4, plan.EndpointHours);
        Assert.Equal("forecast 120 rps over capacity 100", plan.Reason);
    }

    [Theory]
    [InlineData(3, 3, 0, "2 more shadow(s) of 'orders' would make 5, over the cap of 3 per service (Shadowing:Sep:GuardRails:MaxShadowsPerService)")]
    [InlineData(0, 5, 0, "would make 7 in total, over the cap of 5 (Shadowing:Sep:GuardRails:MaxShadowsTotal)")]
    [InlineData(0, 0, 7, "4 endpoint-hours on 2026-12-02 would make 11, over the budget of 10 per day (Shadowing:Sep:GuardRails:EndpointHoursPerDay)")]
    public void Decide_ARailWouldBePassed_RefusesNamingItWithTheNumbers(int inService, int total, double charged, string reason)
    {
        var plan = ShadowAdmission.Decide(Request(count: 2, hours: 2), Rails, killSwitch: false, inService, total, charged, Start);

        Assert.Equal(ShadowPlanDecision.Refused, plan.Decision);
        Assert.Contains(reason, plan.Reason, StringComparison.Ordinal);
        Assert.Equal(0, plan.EndpointHours);
    }

    [Theory]
    [InlineData(2, 2)] // the service's cap leaves room for one
    [InlineData(0, 4)] // the total cap does
    public void Decide_TheCapsLeaveRoomForFewer_AdmitsThoseAndSaysWhy(int inService, int total)
    {
        var plan = ShadowAdmission.Decide(Request(count: 2, hours: 2), Rails, killSwitch: false, inService, total, hoursCharged: 0, Start);

        Assert.Equal((ShadowPlanDecision.Admitted, 1, 2.0), (plan.Decision, plan.Count, plan.EndpointHours));
        Assert.StartsWith("forecast 120 rps over capacity 100 (capped at 1 of 2 shadow(s): 2 more shadow(s)", plan.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_KillSwitch_RefusesEvenWithinTheRails()
    {
        var plan = ShadowAdmission.Decide(Request(count: 1, hours: 1), Rails, killSwitch: true, 0, 0, 0, Start);

        Assert.Equal((ShadowPlanDecision.Refused, "Refused: the kill switch is engaged"), (plan.Decision, plan.Reason));
    }

    [Fact]
    public void Decide_DryRun_PlansWithoutChargingAndSaysWhatItWouldDo()
    {
        var rails = new ShadowGuardRails { MaxShadowsPerService = 3, MaxShadowsTotal = 5, EndpointHoursPerDay = 10, DryRun = true };

        var plan = ShadowAdmission.Decide(Request(count: 2, hours: 1.5), rails, killSwitch: false, 0, 0, 0, Start);

        Assert.Equal(ShadowPlanDecision.DryRun, plan.Decision);
        Assert.Equal(0, plan.EndpointHours);
        Assert.StartsWith("Dry run (Shadowing:Sep:GuardRails:DryRun): would start 2 shadow(s) for 3 endpoint-hours.", plan.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_DryRunOverACap_IsRefusedSoTheDryRunShowsWhatWouldHappen()
    {
        var rails = new ShadowGuardRails { MaxShadowsPerService = 1, DryRun = true };

        Assert.Equal(ShadowPlanDecision.Refused, ShadowAdmission.Decide(Request(count: 2, hours: 1), rails, false, 1, 1, 0, Start).Decision);
        Assert.StartsWith("Dry run (Shadowing:Sep:GuardRails:DryRun): would start 1 shadow(s)", ShadowAdmission.Decide(Request(count: 2, hours: 1), rails, false, 0, 0, 0, Start).Reason, StringComparison.Ordinal);
    }

    private static ShadowRequest Request(int count, double hours) => new()
    {
        Id = ShadowRequest.IdOf("orders", Start),
        Service = "orders",
        Count = count,
        WindowStart = Start,
        WindowEnd = Start.AddHours(hours),
        Kinds = [ShadowRequestKind.Demand],
        Reason = "forecast 120 rps over capacity 100",
        CreatedAt = Start,
        UpdatedAt = Start,
    };
}
