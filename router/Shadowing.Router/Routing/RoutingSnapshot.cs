using System.Collections.Frozen;

namespace Shadowing.Router.Routing;

/// <summary>An immutable set of compiled routing tables, swapped atomically as a whole.</summary>
internal sealed class RoutingSnapshot(FrozenDictionary<string, ServiceRoutes> services, DateTimeOffset loadedAt, FrozenSet<string>? unread = null)
{
    public static RoutingSnapshot Empty { get; } = new(FrozenDictionary<string, ServiceRoutes>.Empty, DateTimeOffset.MinValue);

    /// <summary>
    /// Services whose tables are stored but could not be read, with no earlier version to serve: their requests are
    /// answered 503 (retry), not 404, while the other services route.
    /// </summary>
    public FrozenSet<string> Unread { get; } = unread ?? FrozenSet<string>.Empty;

    /// <summary>Services by name, case-insensitive.</summary>
    public FrozenDictionary<string, ServiceRoutes> Services { get; } = services;

    public DateTimeOffset LoadedAt { get; } = loadedAt;
}
