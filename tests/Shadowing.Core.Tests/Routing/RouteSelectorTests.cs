using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;

namespace Shadowing.Core.Tests.Routing;

public sealed class RouteSelectorTests
{
    private readonly RouteSelector _selector = new(RandomSource.Seeded(7));

    [Fact]
    public void Select_HealthyProductionUnderThreshold_PicksProduction()
    {
        var p1 = Candidate.Production("p1", inFlight: 3, max: 10);

        var decision = _selector.Select([p1], [Candidate.Shadow("s1")], Candidate.Fallback());

        Assert.Equal(RouteKind.Production, decision.Kind);
        Assert.Same(p1, decision.Target);
        Assert.Equal(RouteReason.Healthy, decision.Reason);
    }

    [Fact]
    public void Select_ProductionAtMaxConcurrency_SpillsToShadowAsOverloaded()
    {
        var s1 = Candidate.Shadow("s1");

        var decision = _selector.Select([Candidate.Production("p1", inFlight: 10, max: 10)], [s1], Candidate.Fallback());

        Assert.Equal(RouteKind.Shadow, decision.Kind);
        Assert.Same(s1, decision.Target);
        Assert.Equal(RouteReason.Overloaded, decision.Reason);
    }

    [Fact]
    public void Select_ProductionLatencyOverThreshold_CountsAsOverloaded()
    {
        var decision = _selector.Select([Candidate.Production("p1", latency: 300, maxLatency: 250)], [Candidate.Shadow("s1")], null);

        Assert.Equal(RouteReason.Overloaded, decision.Reason);
        Assert.Equal(RouteKind.Shadow, decision.Kind);
    }

    [Fact]
    public void Select_ProductionUnavailable_SpillsToShadowAsUnhealthy()
    {
        var decision = _selector.Select([Candidate.Production("p1", available: false)], [Candidate.Shadow("s1")], null);

        Assert.Equal(RouteKind.Shadow, decision.Kind);
        Assert.Equal(RouteReason.Unhealthy, decision.Reason);
    }

    [Fact]
    public void Select_NoUsableShadow_FallsBackToDefault()
    {
        var fallback = Candidate.Fallback();

        var decision = _selector.Select([Candidate.Production("p1", inFlight: 10, max: 10)], [Candidate.Shadow("s1", available: false)], fallback);

        Assert.Equal(RouteKind.Default, decision.Kind);
        Assert.Same(fallback, decision.Target);
        Assert.Equal(RouteReason.NoHealthyShadow, decision.Reason);
        Assert.Equal(RouteReason.Overloaded, decision.ProductionReason);
    }

    [Fact]
    public void Select_NothingUsable_ReturnsNone()
    {
        var decision = _selector.Select([Candidate.Production("p1", available: false)], [], Candidate.Fallback(available: false));

        Assert.Equal(RouteKind.None, decision.Kind);
        Assert.Null(decision.Target);
        Assert.Equal(RouteReason.NoHealthyEndpoint, decision.Reason);
        Assert.Equal(RouteReason.Unhealthy, decision.ProductionReason);
    }

    [Fact]
    public void Select_EveryProductionEndpointOverOnlyItsLatencyLimit_NothingElse_TheLeastLoadedAnswersAsOverLatency()
    {
        var slow = Candidate.Production("p1", inFlight: 3, latency: 300, maxLatency: 250);
        var slower = Candidate.Production("p2", inFlight: 1, latency: 900, maxLatency: 250);
        var full = Candidate.Production("p3", inFlight: 10, max: 10, latency: 300, maxLatency: 250);

        var decision = _selector.Select([slow, slower, full], [Candidate.Shadow("s1", available: false)], null);
        var afterFailure = _selector.SelectAfterFailure([slow, slower, full], [], null, [slower]);
        var allFull = _selector.Select([full], [], null);

        Assert.Equal((RouteKind.Production, RouteReason.OverLatency, RouteReason.Overloaded), (decision.Kind, decision.Reason, decision.ProductionReason));
        Assert.Same(slower, decision.Target); // the less utilised of the two (1 of 10 against 3 of 10), whatever its latency
        Assert.Equal((RouteKind.Production, "p1", RouteReason.OverLatency), (afterFailure.Kind, afterFailure.Target!.Id, afterFailure.Reason));
        Assert.Equal(RouteKind.None, allFull.Kind); // the concurrency limit still holds
        Assert.Equal(RouteKind.Default, _selector.Select([slow], [], Candidate.Fallback()).Kind); // a default comes first
    }

    [Fact]
    public void Select_ShadowAtItsOwnLimit_IsSkipped()
    {
        var decision = _selector.Select([Candidate.Production("p1", available: false)], [Candidate.Shadow("s1", inFlight: 2, max: 2)], Candidate.Fallback());

        Assert.Equal(RouteKind.Default, decision.Kind);
    }

    [Fact]
    public void Select_ManyRequests_PrefersLessUtilisedProduction()
    {
        var busy = Candidate.Production("busy", inFlight: 8, max: 10);
        var idle = Candidate.Production("idle", inFlight: 1, max: 10);
        var third = Candidate.Production("third", inFlight: 5, max: 10);

        var picks = Enumerable.Range(0, 300).Select(_ => _selector.Select([busy, idle, third], [], null).Target!.Id).ToList();

        // Power of two choices never picks the most loaded of three, and picks the least loaded most often.
        Assert.DoesNotContain("busy", picks);
        Assert.True(picks.Count(p => p == "idle") > picks.Count(p => p == "third"));
    }

    [Fact]
    public void Select_ShadowsWithAndWithoutALimit_TheOneWithFewerRequestsInFlight()
    {
        var halfFull = Candidate.Shadow("half-full", inFlight: 16, max: 32);
        var unlimited = Candidate.Shadow("unlimited", inFlight: 1);

        var picks = Enumerable.Range(0, 50).Select(_ => _selector.Select([Candidate.Production("p1", available: false)], [halfFull, unlimited], null).Target!.Id).Distinct();

        Assert.Equal(["unlimited"], picks); // a share of 0.5 lost to a count of 1
    }

    [Fact]
    public void SelectAfterFailure_ProductionFailed_PrefersShadowThenOtherProductionThenDefault()
    {
        var p1 = Candidate.Production("p1");
        var p2 = Candidate.Production("p2");
        var s1 = Candidate.Shadow("s1");
        var fallback = Candidate.Fallback();

        var toShadow = _selector.SelectAfterFailure([p1, p2], [s1], fallback, [p1]);
        var toOtherProduction = _selector.SelectAfterFailure([p1, p2], [s1], fallback, [p1, s1]);
        var toDefault = _selector.SelectAfterFailure([p1, p2], [s1], fallback, [p1, s1, p2]);

        Assert.Same(s1, toShadow.Target);
        Assert.Equal(RouteReason.Failover, toShadow.Reason);
        Assert.Same(p2, toOtherProduction.Target); // never the default (a busy page) while production could answer
        Assert.Equal(RouteKind.Production, toOtherProduction.Kind);
        Assert.Same(fallback, toDefault.Target);
        Assert.Equal(RouteKind.None, _selector.SelectAfterFailure([p1], [], null, [p1]).Kind);
    }

    [Fact]
    public void SelectAfterFailure_NoShadow_OtherProductionBeforeTheDefault_UnlessOverItsThreshold()
    {
        var p1 = Candidate.Production("p1");
        var p2 = Candidate.Production("p2");
        var busy = new Candidate("p2", new EndpointLoad(true, 10, 5), 10, null);
        var fallback = Candidate.Fallback();

        Assert.Same(p2, _selector.SelectAfterFailure([p1, p2], [], fallback, [p1]).Target);
        Assert.Same(fallback, _selector.SelectAfterFailure([p1, busy], [], fallback, [p1]).Target);
    }

    private sealed class Candidate(string id, EndpointLoad load, int? max, double? maxLatency) : IRouteCandidate
    {
        public string Id { get; } = id;

        public int? MaxConcurrency { get; } = max;

        public double? MaxLatencyMs { get; } = maxLatency;

        public EndpointLoad Load { get; } = load;

        public static Candidate Production(string id, bool available = true, int inFlight = 0, int max = 10, double? latency = null, double? maxLatency = null) =>
            new(id, new EndpointLoad(available, inFlight, latency), max, maxLatency);

        public static Candidate Shadow(string id, bool available = true, int inFlight = 0, int? max = null) =>
            new(id, new EndpointLoad(available, inFlight, null), max, null);

        public static Candidate Fallback(bool available = true) => new("fallback", new EndpointLoad(available, 0, null), null, null);
    }

    [Fact]
    public void Select_EveryProductionEndpointEjectedForItsAnswers_NoShadow_PanicsToProductionBeforeTheDefault()
    {
        var ejected = new Candidate("p1", new EndpointLoad(false, 0, null, EjectedForAnswers: true), 10, null);
        var dead = Candidate.Production("p2", available: false);
        var fallback = Candidate.Fallback();

        var panic = _selector.Select([ejected, dead], [], fallback);
        var toShadow = _selector.Select([ejected, dead], [Candidate.Shadow("s1")], fallback);
        var onlyDead = _selector.Select([dead], [], fallback);

        Assert.Equal((RouteKind.Production, "p1", RouteReason.Panic, RouteReason.Unhealthy), (panic.Kind, panic.Target!.Id, panic.Reason, panic.ProductionReason));
        Assert.Equal(RouteKind.Shadow, toShadow.Kind); // a pre-warmed shadow is what ejection is for
        Assert.Same(fallback, onlyDead.Target);
    }

    [Fact]
    public void Select_EjectedForSlowFailingAnswers_PanicIgnoresTheLatencyTheyMade_NotTheConcurrencyLimit()
    {
        // Five 500s after about a second each (a dependency timing out) ejected it and left its average over the limit.
        var slow = new Candidate("p1", new EndpointLoad(false, 0, 404, EjectedForAnswers: true), 10, 250);
        var full = new Candidate("p1", new EndpointLoad(false, 10, 404, EjectedForAnswers: true), 10, 250);
        var fallback = Candidate.Fallback();

        Assert.Equal(RouteReason.Panic, _selector.Select([slow], [], fallback).Reason);
        Assert.Same(fallback, _selector.Select([full], [], fallback).Target);
    }

    [Fact]
    public void Select_AnotherProductionEndpointAvailableButBusy_NoPanic()
    {
        var ejected = new Candidate("p1", new EndpointLoad(false, 0, null, EjectedForAnswers: true), 10, null);
        var busy = Candidate.Production("p2", inFlight: 10, max: 10);
        var fallback = Candidate.Fallback();

        var decision = _selector.Select([ejected, busy], [], fallback);

        Assert.Same(fallback, decision.Target);
        Assert.Equal(RouteReason.Overloaded, decision.ProductionReason);
    }
}
