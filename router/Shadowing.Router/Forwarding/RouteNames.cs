using Shadowing.Core.Routing;

namespace Shadowing.Router.Forwarding;

/// <summary>Lower-case names used in headers, logs and metric labels.</summary>
internal static class RouteNames
{
    public static string Of(RouteKind kind) => kind switch
    {
        RouteKind.Production => "production",
        RouteKind.Shadow => "shadow",
        RouteKind.Default => "default",
        _ => "none",
    };

    public static string Of(RouteReason reason) => reason switch
    {
        RouteReason.Healthy => "healthy",
        RouteReason.Unhealthy => "unhealthy",
        RouteReason.Overloaded => "overloaded",
        RouteReason.NoHealthyShadow => "no_healthy_shadow",
        RouteReason.NoHealthyEndpoint => "no_healthy_endpoint",
        RouteReason.Failover => "failover",
        RouteReason.Panic => "panic",
        RouteReason.OverLatency => "over_latency",
        _ => "unknown",
    };

    public static string Of(EndpointRole role) => role switch
    {
        EndpointRole.Production => "production",
        EndpointRole.Shadow => "shadow",
        _ => "default",
    };
}
