using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Core.Tests.Routing;

/// <summary>Routing tables for tests.</summary>
internal static class Tables
{
    public static RoutingTable Orders() => new()
    {
        Service = "orders",
        Production =
        [
            new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:5101", MaxConcurrency = 10 },
            new ProductionEndpoint { Id = "p2", Address = "http://127.0.0.1:5102", MaxConcurrency = 10, MaxLatencyMs = 250 },
        ],
        Default = new DefaultEndpoint { Id = "fallback", Address = "dapr://orders-default" },
    };

    public static ShadowEndpoint Shadow(string id, ShadowState state) =>
        new() { Id = id, Address = $"http://127.0.0.1:{6000 + id.Length}", State = state };
}
