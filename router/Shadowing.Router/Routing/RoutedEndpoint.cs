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

    /// <summary>
    /// The runtime's load; over <see cref="MaxLatencyMs"/>, once per <c>LatencyRecheckInterval</c> reported with its
    /// latency unknown, so that one request goes and measures it (the selector reads each candidate's load once per
    /// decision; only an endpoint that could take the request claims the recheck, though a choice among several may still
    /// pass it over).
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
