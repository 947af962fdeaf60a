using Shadowing.Core.Endpoints;
using Shadowing.Core.Routing;
using Shadowing.Router.Forwarding;

namespace Shadowing.Router.Routing;

/// <summary>An endpoint of a routing-table snapshot, with its parsed address, live runtime and request rewriting.</summary>
internal sealed class RoutedEndpoint(string id, EndpointRole role, EndpointAddress address, int? maxConcurrency, double? maxLatencyMs, EndpointRuntime runtime, EndpointTransformer transformer)
    : IRouteCandidate
{
    /// <summary>How requests to this endpoint are rewritten, and where they go (<see cref="EndpointTransformer.Prefix"/>).</summary>
    public EndpointTransformer Transformer { get; } = transformer;

    public string Id { get; } = id;

    public EndpointRole Role { get; } = role;

    public EndpointAddress Address { get; } = address;

    public int? MaxConcurrency { get; } = maxConcurrency;

    public double? MaxLatencyMs { get; } = maxLatencyMs;

    public EndpointRuntime Runtime { get; } = runtime;

    /// <summary>Most a single answer adds to the latency EWMA, as a multiple of <see cref="MaxLatencyMs"/>.</summary>
    public const double LatencySampleCap = 2;

    /// <summary>
    /// Folds a forwarded request's latency into the runtime's EWMA, at most <see cref="LatencySampleCap"/> times
    /// <see cref="MaxLatencyMs"/>: one answer that took 10 s under a 250 ms threshold would otherwise lift the EWMA to
    /// about 3 s, and with one recheck per interval the endpoint would take eight intervals (40 s by default) to come back
    /// under it, all that time out of production for one slow request. Capped, a single outlier does not take out an
    /// endpoint whose EWMA was below about 0.57 × the threshold (0.3 × 500 + 0.7 × 40 = 178 under 250), two in a row do,
    /// and from the cap it is back under after three good answers. (The EWMA shown by /healthz is the capped one.)
    /// </summary>
    public void ObserveLatency(double milliseconds) =>
        Runtime.ObserveLatency(MaxLatencyMs is { } max ? Math.Min(milliseconds, LatencySampleCap * max) : milliseconds);

    /// <summary>
    /// The runtime's load; over <see cref="MaxLatencyMs"/>, once per <c>LatencyRecheckInterval</c> reported with its
    /// latency unknown, so that one request goes and measures it (the selector reads each candidate's load once per
    /// decision, and again only in its last pass, over-latency production when nothing else could take the request, where a
    /// claimed recheck costs nothing: the endpoint gets real requests then; only an endpoint that could take the request
    /// claims the recheck, though a choice among several may still pass it over).
    /// </summary>
    public EndpointLoad Load
    {
        get
        {
            var load = Runtime.Load;
            if (MaxLatencyMs is not { } max || load.LatencyEwmaMs is not { } latency)
            {
                return load;
            }

            if (latency <= max)
            {
                Runtime.EndLatencyRecheck();
                return load;
            }

            return load.Available && (MaxConcurrency is not { } limit || load.InFlight < limit) && Runtime.TryRecheckLatency()
                ? load with { LatencyEwmaMs = null }
                : load;
        }
    }
}
