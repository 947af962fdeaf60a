using System.Collections.Frozen;

namespace Shadowing.Router.Routing;

/// <summary>An immutable set of compiled routing tables, swapped atomically as a whole.</summary>
internal sealed class RoutingSnapshot(FrozenDictionary<string, ServiceRoutes> services, DateTimeOffset loadedAt)
{
    public static RoutingSnapshot Empty { get; } = new(FrozenDictionary<string, ServiceRoutes>.Empty, DateTimeOffset.MinValue);

    /// <summary>Services by name, case-insensitive.</summary>
    public FrozenDictionary<string, ServiceRoutes> Services { get; } = services;

    public DateTimeOffset LoadedAt { get; } = loadedAt;
}
