using Shadowing.Core.Shadows;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Planning;

namespace Shadowing.Forecasting.Tests.Planning;

public sealed class ShadowPlannerTests
{
    private static readonly DateTimeOffset Origin = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = Origin.AddSeconds(150);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(5); // the PAE runs again 5 minutes from now
    private readonly ShadowPlanner _planner = new(new PlannerOptions { LeadTime = TimeSpan.FromMinutes(15), Headroom = 0.1, RiskThreshold = 0.8, RiskShadows = 1, RiskHold = TimeSpan.FromHours(1) }, Interval);

    [Fact]
    public void Decide_PeakWithinLeadTime_RequestsShadowsForThePeakWindow()
    {
        // p90 per step: 900 fits in 1,000 with 10% headroom; 1,000 and 1,400 do not.
        var forecast = Points(800, 900, 1000, 1400, 1000, 800);

        var decision = _planner.Decide("orders", forecast, Step, productionCapacity: 1000, endpointCapacity: 250, risk: (0.1, false), Now);

        var request = decision.Request!;
        Assert.Equal(Origin.AddMinutes(15), decision.NeededFrom); // 12.5 minutes away: within the 15-minute lead time
        Assert.Equal(3, request.Count); // ceil((1400 * 1.1 - 1000) / 250)
        Assert.Equal(forecast[2].Time, request.WindowStart);
        Assert.Equal(forecast[4].Time + Step, request.WindowEnd);
        Assert.Equal([ShadowRequestKind.Demand], request.Kinds);
        Assert.Equal($"orders/{request.WindowStart.UtcDateTime:yyyyMMdd'T'HHmm'Z'}", request.Id);
        Assert.Contains("exceeds production capacity 1000", request.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_PeakBeyondLeadTimeButWithinItAtTheNextRun_RequestsNow()
    {
        // Needed at 12:20, 17.5 minutes away: asked for at the next run (12:07:30) the shadows, 15 minutes from ready,
        // would come 2.5 minutes late.
        var forecast = Points(800, 800, 800, 1400, 800, 800);

        var decision = _planner.Decide("orders", forecast, Step, 1000, 250, (0.1, false), Now);

        Assert.Equal(forecast[3].Time, decision.Request?.WindowStart);
    }

    [Fact]
    public void Decide_ANeedThatEndsBeforeShadowsCouldBeReady_HoldsThemUntilTheNextDecisionPastTheLeadTime()
    {
        // Only 12:05-12:10 is over capacity: shadows asked for at 12:02:30 are ready about 12:17:30, after it. The window
        // runs to 12:22:30 (a lead time and a run interval from now), as ShortenedEnd would keep it, not to 12:10.
        var forecast = Points(800, 1400, 800, 800, 800, 800);

        var request = _planner.Decide("orders", forecast, Step, 1000, 250, (0.1, false), Now).Request!;

        Assert.Equal((forecast[1].Time, Now.AddMinutes(20)), (request.WindowStart, request.WindowEnd));
    }

    [Fact]
    public void Decide_PeakBeyondLeadTime_WaitsButReportsWhen()
    {
        var forecast = Points(800, 800, 800, 800, 1400, 800);

        var decision = _planner.Decide("orders", forecast, Step, 1000, 250, (0.1, false), Now);

        Assert.Null(decision.Request);
        Assert.Equal(forecast[4].Time, decision.NeededFrom);
        Assert.Equal(3, decision.PeakShadows);
    }

    [Fact]
    public void Decide_PeakBeyondLeadTime_RequestsNow_WhenTheServiceIsDecidedAgainOnlyLater()
    {
        // Needed at 12:20, 22.5 minutes away; runs that stop at their deadline take turns, and this service was last
        // decided 15 minutes ago: at its next decision, around 12:17:30, the shadows would be 12.5 minutes late.
        var forecast = Points(800, 800, 800, 800, 1400, 800);

        var decision = _planner.Decide("orders", forecast, Step, 1000, 250, (0.1, false), Now, nextDecisionIn: TimeSpan.FromMinutes(15));
        var shorter = _planner.Decide("orders", forecast, Step, 1000, 250, (0.1, false), Now, nextDecisionIn: TimeSpan.FromMinutes(2)); // the interval is the least

        Assert.Equal(forecast[4].Time, decision.Request?.WindowStart);
        Assert.Null(shorter.Request);
        Assert.Equal(Now + TimeSpan.FromMinutes(15 + 15), _planner.ShortenedEnd(Open(Origin.AddHours(1)), Points(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100), Step, 1000, 250, Now, TimeSpan.FromMinutes(15)));
    }

    [Fact]
    public void Decide_NoPeakNoRisk_NothingToDo()
    {
        var decision = _planner.Decide("orders", Points(100, 200, 300), Step, 1000, 250, (0.79, false), Now);

        Assert.Null(decision.Request);
        Assert.Null(decision.NeededFrom);
    }

    [Fact]
    public void Decide_RiskAboveThreshold_RequestsRiskShadowsNow()
    {
        var decision = _planner.Decide("orders", Points(100, 200), Step, 1000, 250, (0.85, false), Now);

        var request = decision.Request!;
        Assert.Equal(1, request.Count);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero), request.WindowStart); // quantized to the step
        Assert.Equal(Origin + Step + TimeSpan.FromHours(1), request.WindowEnd); // held from the end of the step the decision is in
        Assert.Equal([ShadowRequestKind.Risk], request.Kinds);
    }

    [Fact]
    public void Decide_DemandAndRisk_MergeIntoOneRequest()
    {
        var decision = _planner.Decide("orders", Points(1400, 1400), Step, 1000, 250, (0.2, true), Now);

        var request = decision.Request!;
        Assert.Equal([ShadowRequestKind.Demand, ShadowRequestKind.Risk], request.Kinds);
        Assert.Equal(3, request.Count);
        Assert.Equal(Origin + Step + TimeSpan.FromHours(1), request.WindowEnd); // held from the end of the step the decision is in
        Assert.Contains("(alarm)", request.Reason, StringComparison.Ordinal);
    }

    /// <summary>Forecast steps from the last observed value at 12:00: 12:05, 12:10, …</summary>
    [Fact]
    public void ShortenedEnd_DemandFallsBeforeTheWindowEnds_EndsAfterTheLastStepThatNeedsShadows()
    {
        // Steps 12:05 .. 13:00; the p90 needs shadows through the 12:20 step only.
        var forecast = Points(1400, 1400, 1400, 1400, 800, 800, 800, 800, 800, 800, 800, 800);

        var end = _planner.ShortenedEnd(Open(Origin.AddHours(1)), forecast, Step, 1000, 250, Now);

        Assert.Equal(Origin.AddMinutes(25), end);
    }

    [Fact]
    public void ShortenedEnd_NoStepNeedsShadows_EndsOneLeadTimePastTheNextRun()
    {
        var end = _planner.ShortenedEnd(Open(Origin.AddHours(1)), Points(800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800), Step, 1000, 250, Now);

        Assert.Equal(Now.AddMinutes(20), end); // a forecast that flips back at the next run still finds the shadows
    }

    [Fact]
    public void ShortenedEnd_AWindowThatHasNotStarted_IsNeverEndedBeforeItsStart()
    {
        // Asked for 12:45-13:00 when the PAE's next run was far off; a fresher forecast needs nothing in it.
        var ahead = Open(Origin.AddHours(1)) with { WindowStart = Origin.AddMinutes(45) };

        var end = _planner.ShortenedEnd(ahead, Points(800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800), Step, 1000, 250, Now);

        Assert.Equal(Origin.AddMinutes(45), end);
    }

    [Fact]
    public void ShortenedEnd_KeepsTheWindow_WhenDemandStillNeedsItsEnd_TheForecastDoesNotReachIt_OrRiskOrAnOperatorAskedToo()
    {
        var falling = Points(1400, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800);

        Assert.Null(_planner.ShortenedEnd(Open(Origin.AddHours(1)), Points(800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 1400, 800), Step, 1000, 250, Now)); // the 12:55 step
        Assert.Null(_planner.ShortenedEnd(Open(Origin.AddHours(2)), falling, Step, 1000, 250, Now));
        Assert.Null(_planner.ShortenedEnd(Open(Origin.AddHours(1)) with { Kinds = [ShadowRequestKind.Demand, ShadowRequestKind.Risk] }, falling, Step, 1000, 250, Now));
        Assert.Null(_planner.ShortenedEnd(Open(Origin.AddHours(1)) with { Kinds = [ShadowRequestKind.Manual] }, falling, Step, 1000, 250, Now));
        Assert.Equal(Now.AddMinutes(20), _planner.ShortenedEnd(Open(Origin.AddHours(1)), falling, Step, 1000, 250, Now));
    }

    [Fact]
    public void ShortenedEnd_AnOperatorsRequestMergedWithDemand_EndsNoEarlierThanTheOperatorAsked_NotAtTheMergedEnd()
    {
        // An operator asked for 12:00-12:35; demand merged in until 13:00. Demand has gone: the window ends with the operator's.
        var merged = Open(Origin.AddHours(1)) with { Kinds = [ShadowRequestKind.Manual, ShadowRequestKind.Demand], ManualUntil = Now.AddMinutes(30) };
        var falling = Points(800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800);

        Assert.Equal(Now.AddMinutes(30), _planner.ShortenedEnd(merged, falling, Step, 1000, 250, Now));
        Assert.Equal(Now.AddMinutes(20), _planner.ShortenedEnd(merged with { ManualUntil = Now.AddMinutes(5) }, falling, Step, 1000, 250, Now)); // one lead time past the next run
        Assert.Null(_planner.ShortenedEnd(merged with { ManualUntil = Origin.AddHours(1) }, falling, Step, 1000, 250, Now)); // the operator's end is the window's
        Assert.Null(_planner.ShortenedEnd(merged with { ManualUntil = null }, falling, Step, 1000, 250, Now)); // stored before the field: kept
    }

    [Fact]
    public void ShortenedEnd_ARiskHoldMergedIntoADemandWindow_EndsAtTheHoldsOwnEnd_NotTheWindows()
    {
        // Demand asked for 12:00-13:00; risk, at 12:05, to hold until 12:35. Demand has gone: the window ends with the hold.
        var merged = Open(Origin.AddHours(1)) with { Kinds = [ShadowRequestKind.Demand, ShadowRequestKind.Risk], RiskUntil = Now.AddMinutes(30) };
        var falling = Points(800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800);

        Assert.Equal(Now.AddMinutes(30), _planner.ShortenedEnd(merged, falling, Step, 1000, 250, Now));
        Assert.Equal(Now.AddMinutes(20), _planner.ShortenedEnd(merged with { RiskUntil = Now.AddMinutes(5) }, falling, Step, 1000, 250, Now)); // a hold ending sooner: one lead time past the next run
        Assert.Null(_planner.ShortenedEnd(merged with { RiskUntil = Origin.AddHours(2) }, falling, Step, 1000, 250, Now)); // the hold outlasts the window
    }

    [Fact]
    public void Decide_ARiskRequest_CarriesTheHoldsEnd()
    {
        var request = _planner.Decide("orders", Points(800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800), Step, 1000, 250, (0.95, true), Now).Request!;

        Assert.Contains(ShadowRequestKind.Risk, request.Kinds);
        Assert.Equal(Origin + Step + TimeSpan.FromHours(1), request.RiskUntil);
    }

    [Fact]
    public void Decide_RiskDecidedAgainSecondsLater_AsksForTheSameWindow()
    {
        // A run repeated within its step (a catch-up, a restart) must not look like a change: an unchanged request is not
        // published or sent to its workflow as an extension again.
        var first = _planner.Decide("orders", Points(100, 200), Step, 1000, 250, (0.95, true), Now).Request!;
        var again = _planner.Decide("orders", Points(100, 200), Step, 1000, 250, (0.95, true), Now.AddSeconds(40)).Request!;

        Assert.Equal((first.WindowStart, first.WindowEnd, first.RiskUntil), (again.WindowStart, again.WindowEnd, again.RiskUntil));

        // Never shorter than the hold, whatever the step: an hour's step and half an hour's hold, decided late in the step.
        var hourly = new ShadowPlanner(new PlannerOptions { RiskThreshold = 0.8, RiskShadows = 1, RiskHold = TimeSpan.FromMinutes(30) }, TimeSpan.FromHours(1));
        var late = Origin.AddMinutes(55);
        Assert.True(hourly.Decide("orders", Points(100, 200), TimeSpan.FromHours(1), 1000, 250, (0.95, true), late).Request!.RiskUntil >= late.AddMinutes(30));
    }

    private static ShadowRequest Open(DateTimeOffset end) => new()
    {
        Id = ShadowRequest.IdOf("orders", Origin),
        Service = "orders",
        Count = 2,
        WindowStart = Origin,
        WindowEnd = end,
        Kinds = [ShadowRequestKind.Demand],
        Reason = "test",
        CreatedAt = Origin,
        UpdatedAt = Origin,
    };

    private static List<ForecastPoint> Points(params double[] p90) =>
        [.. p90.Select((v, i) => new ForecastPoint(i + 1, Origin.AddMinutes(5 * (i + 1)), v * 0.8, v))];
}
