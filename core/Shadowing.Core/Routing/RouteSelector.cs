using Shadowing.Core.Randomness;
using Shadowing.Core.Shadows;

namespace Shadowing.Core.Routing;

/// <summary>What the router knows about one endpoint at the moment of a decision.</summary>
/// <param name="Available">Healthy by active probes and not ejected by outlier detection.</param>
/// <param name="InFlight">Requests currently forwarded to it by this router.</param>
/// <param name="LatencyEwmaMs">Exponentially weighted latency, or null before the first sample.</param>
/// <param name="EjectedForAnswers">Out only because outlier detection ejected it for its 5xx answers (probes do not find it unhealthy).</param>
public readonly record struct EndpointLoad(bool Available, int InFlight, double? LatencyEwmaMs, bool EjectedForAnswers = false);

/// <summary>Which kind of endpoint a decision picked.</summary>
public enum RouteKind
{
    /// <summary>A production endpoint.</summary>
    Production,

    /// <summary>A PreWarmed or Active shadow.</summary>
    Shadow,

    /// <summary>The service's default endpoint.</summary>
    Default,

    /// <summary>Nothing can take the request.</summary>
    None,
}

/// <summary>
/// Why a decision picked what it did: <see cref="Healthy"/> for production under its thresholds; <see cref="Panic"/> and
/// <see cref="OverLatency"/> for production past them because nothing else could take the request; else why production
/// could not take it.
/// </summary>
public enum RouteReason
{
    /// <summary>A healthy production endpoint under its thresholds was picked.</summary>
    Healthy,

    /// <summary>No production endpoint is available (unhealthy, ejected, or none configured).</summary>
    Unhealthy,

    /// <summary>Production endpoints are available but all at or over a threshold.</summary>
    Overloaded,

    /// <summary>Production could not take it and no shadow is PreWarmed/Active, healthy and under its limits.</summary>
    NoHealthyShadow,

    /// <summary>Nothing at all can take it.</summary>
    NoHealthyEndpoint,

    /// <summary>The previous choice failed before responding; this is the next choice.</summary>
    Failover,

    /// <summary>
    /// No production endpoint is available, but one is out only for its 5xx answers, and no shadow can take the
    /// request: production answers it rather than the default or a 503 (Envoy's panic routing).
    /// </summary>
    Panic,

    /// <summary>
    /// Every available production endpoint is over its latency limit, and no shadow and no default can take the request:
    /// the least loaded one still under its concurrency limit answers it, slowly, rather than a 503.
    /// </summary>
    OverLatency,
}

/// <summary>The outcome of <see cref="RouteSelector.Select{T}"/>.</summary>
public readonly record struct RouteDecision<T>(RouteKind Kind, T? Target, RouteReason Reason, RouteReason ProductionReason)
    where T : class;

/// <summary>One routable endpoint as the selector sees it.</summary>
public interface IRouteCandidate
{
    /// <summary>Id within its service.</summary>
    string Id { get; }

    /// <summary>Concurrency limit; none when null.</summary>
    int? MaxConcurrency { get; }

    /// <summary>Latency limit (EWMA, ms); none when null.</summary>
    double? MaxLatencyMs { get; }

    /// <summary>Health and load right now.</summary>
    EndpointLoad Load { get; }
}

/// <summary>
/// ARC, the adaptive routing decision: a healthy production endpoint under its thresholds; else a healthy,
/// PreWarmed or Active shadow under its limits; else a production endpoint ejected only for its 5xx answers (panic:
/// those may come from one broken path, and the rest of the service still answers); else the default endpoint; else an
/// available production endpoint over only its latency limit; else nothing.
/// Among equals it uses the power of two random choices on utilisation, which spreads load without herding.
/// </summary>
public sealed class RouteSelector(IRandomSource random)
{
    /// <summary>The first choice for a request.</summary>
    /// <param name="production">Production endpoints.</param>
    /// <param name="shadows">Shadows already filtered to routable states (<see cref="ShadowLifecycle.IsRoutable"/>).</param>
    /// <param name="fallback">The default endpoint, if any.</param>
    public RouteDecision<T> Select<T>(IReadOnlyList<T> production, IReadOnlyList<T> shadows, T? fallback)
        where T : class, IRouteCandidate
    {
        ArgumentNullException.ThrowIfNull(production);
        ArgumentNullException.ThrowIfNull(shadows);
        var anyAvailable = false;
        var chosen = PickLeastLoaded(production, exclude: null, ref anyAvailable, Pass.UnderThresholds);
        if (chosen is not null)
        {
            return new(RouteKind.Production, chosen, RouteReason.Healthy, RouteReason.Healthy);
        }

        var productionReason = anyAvailable ? RouteReason.Overloaded : RouteReason.Unhealthy;
        var ignored = false;
        var shadow = PickLeastLoaded(shadows, exclude: null, ref ignored, Pass.UnderThresholds);
        if (shadow is not null)
        {
            return new(RouteKind.Shadow, shadow, productionReason, productionReason);
        }

        if (!anyAvailable && PickLeastLoaded(production, exclude: null, ref ignored, Pass.EjectedForAnswers) is { } answering)
        {
            return new(RouteKind.Production, answering, RouteReason.Panic, productionReason);
        }

        if (fallback is not null && fallback.Load.Available)
        {
            return new(RouteKind.Default, fallback, RouteReason.NoHealthyShadow, productionReason);
        }

        return OverLatencyOrNone(production, exclude: null, productionReason);
    }

    /// <summary>
    /// The next choice after forwarding to the endpoints in <paramref name="tried"/> failed before any response: a
    /// pre-warmed shadow (another failure domain: what fails one production endpoint, a crash, a deploy, a dependency,
    /// often fails the others at once), then another production endpoint under its thresholds, then the default (often a
    /// "busy" page: never taken while production under its thresholds could answer), then another production endpoint
    /// over only its latency limit.
    /// </summary>
    public RouteDecision<T> SelectAfterFailure<T>(IReadOnlyList<T> production, IReadOnlyList<T> shadows, T? fallback, IReadOnlyCollection<T> tried)
        where T : class, IRouteCandidate
    {
        ArgumentNullException.ThrowIfNull(tried);
        var ignored = false;
        var shadow = PickLeastLoaded(shadows, tried, ref ignored, Pass.UnderThresholds);
        if (shadow is not null)
        {
            return new(RouteKind.Shadow, shadow, RouteReason.Failover, RouteReason.Failover);
        }

        var other = PickLeastLoaded(production, tried, ref ignored, Pass.UnderThresholds);
        if (other is not null)
        {
            return new(RouteKind.Production, other, RouteReason.Failover, RouteReason.Failover);
        }

        return fallback is not null && fallback.Load.Available && !tried.Contains(fallback)
            ? new(RouteKind.Default, fallback, RouteReason.Failover, RouteReason.Failover)
            : OverLatencyOrNone(production, tried, RouteReason.Failover);
    }

    /// <summary>Whether an available endpoint can take one more request.</summary>
    public static bool IsUnderThresholds(IRouteCandidate candidate, EndpointLoad load) =>
        (candidate.MaxConcurrency is not { } max || load.InFlight < max)
        && (candidate.MaxLatencyMs is not { } maxLatency || load.LatencyEwmaMs is not { } latency || latency <= maxLatency);

    /// <summary>
    /// The last choice before nothing: a latency limit is there to move traffic to something faster, and with nothing
    /// else to take it, refusing would turn a slow dependency into an outage. The concurrency limit still holds: that
    /// one protects the endpoint.
    /// </summary>
    private RouteDecision<T> OverLatencyOrNone<T>(IReadOnlyList<T> production, IReadOnlyCollection<T>? exclude, RouteReason productionReason)
        where T : class, IRouteCandidate
    {
        var ignored = false;
        return PickLeastLoaded(production, exclude, ref ignored, Pass.UnderConcurrency) is { } slow
            ? new(RouteKind.Production, slow, RouteReason.OverLatency, productionReason)
            : new(RouteKind.None, null, RouteReason.NoHealthyEndpoint, productionReason);
    }

    private T? PickLeastLoaded<T>(IReadOnlyList<T> candidates, IReadOnlyCollection<T>? exclude, ref bool anyAvailable, Pass pass)
        where T : class, IRouteCandidate
    {
        var ejectedForAnswers = pass == Pass.EjectedForAnswers;
        // Two passes without allocating: count the eligible ones, then pick two of them at random.
        Span<int> eligible = candidates.Count <= 64 ? stackalloc int[candidates.Count] : new int[candidates.Count];
        Span<double> utilisation = candidates.Count <= 64 ? stackalloc double[candidates.Count] : new double[candidates.Count];
        Span<int> inFlight = candidates.Count <= 64 ? stackalloc int[candidates.Count] : new int[candidates.Count];
        var count = 0;
        for (var i = 0; i < candidates.Count; i++)
        {
            var candidate = candidates[i];
            if (exclude is not null && exclude.Contains(candidate))
            {
                continue;
            }

            var load = candidate.Load;
            if (ejectedForAnswers ? !load.EjectedForAnswers : !load.Available)
            {
                continue;
            }

            anyAvailable = true;
            // Panic skips the latency limit: the failing answers that ejected the endpoint made its average (a dependency
            // timing out answers 500 slowly), and no recheck comes while it is out; its concurrency limit still holds.
            if (pass == Pass.UnderThresholds ? !IsUnderThresholds(candidate, load) : candidate.MaxConcurrency is { } limit && load.InFlight >= limit)
            {
                continue;
            }

            eligible[count] = i;
            utilisation[count] = candidate.MaxConcurrency is { } max ? (double)load.InFlight / max : double.NaN;
            inFlight[count] = load.InFlight;
            count++;
        }

        switch (count)
        {
            case 0:
                return null;
            case 1:
                return candidates[eligible[0]];
        }

        var first = random.Next(count);
        var second = random.Next(count - 1);
        if (second >= first)
        {
            second++;
        }

        // Shares of their limits when both have one; otherwise requests in flight: a share and a count are not comparable
        // (half of a limit of 32 lost to an unlimited endpoint holding one request).
        var secondLess = double.IsNaN(utilisation[first]) || double.IsNaN(utilisation[second])
            ? inFlight[second] < inFlight[first]
            : utilisation[second] < utilisation[first];
        return candidates[eligible[secondLess ? second : first]];
    }

    /// <summary>Which endpoints a pass of <see cref="PickLeastLoaded"/> may pick.</summary>
    private enum Pass
    {
        /// <summary>Available and under every threshold.</summary>
        UnderThresholds,

        /// <summary>Available and under the concurrency limit, whatever the latency.</summary>
        UnderConcurrency,

        /// <summary>Out only for 5xx answers, under the concurrency limit, whatever the latency.</summary>
        EjectedForAnswers,
    }
}
