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

    public EndpointLoad Load => Runtime.Load;
}
