using Shadowing.Core.Endpoints;
using Shadowing.Core.Routing;

namespace Shadowing.Router.Routing;

/// <summary>An endpoint of a routing-table snapshot, with its parsed address and live runtime.</summary>
internal sealed class RoutedEndpoint(string id, EndpointRole role, EndpointAddress address, int? maxConcurrency, double? maxLatencyMs, EndpointRuntime runtime)
    : IRouteCandidate
{
    public string Id { get; } = id;

    public EndpointRole Role { get; } = role;

    public EndpointAddress Address { get; } = address;

    public int? MaxConcurrency { get; } = maxConcurrency;

    public double? MaxLatencyMs { get; } = maxLatencyMs;

    public EndpointRuntime Runtime { get; } = runtime;

    public EndpointLoad Load => Runtime.Load;
}
