using Shadowing.Router.Forwarding;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Health;

/// <summary>
/// <c>GET /healthz</c>: 200 "Healthy", 200 "Degraded" while serving stale routing tables (the store is down),
/// 503 "Unhealthy" until the tables have been loaded once; with every endpoint's health and load for callers
/// <see cref="AdminAccess"/> lets see them.
/// </summary>
internal static class HealthEndpoint
{
    public static IResult Handle(HttpContext context, RoutingTableCache cache, AdminAccess access, TimeProvider time)
    {
        var now = time.GetUtcNow();
        var status = cache.Status;
        var snapshot = cache.Current;
        var state = !status.Loaded ? "Unhealthy" : status.Stale ? "Degraded" : "Healthy";
        var code = status.Loaded ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        if (!access.Allows(context))
        {
            return Results.Json(new { status = state }, statusCode: code); // addresses and errors are for operators only
        }

        var body = new
        {
            status = state,
            routingTables = new
            {
                loaded = status.Loaded,
                stale = status.Stale,
                services = snapshot.Services.Count,
                lastSuccessAt = status.LastSuccessAt,
                lastAttemptAt = status.LastAttemptAt,
                lastError = status.LastError,
            },
            endpoints = snapshot.Services.Values
                .OrderBy(s => s.Service, StringComparer.Ordinal)
                .SelectMany(s => s.Probed.Select(e => new
                {
                    service = s.Service,
                    id = e.Id,
                    role = RouteNames.Of(e.Role),
                    address = e.Address.Text,
                    available = e.Runtime.Health.IsAvailable(now),
                    probe = e.Runtime.Health.Status.ToString(),
                    ejectedUntil = e.Runtime.Health.EjectedUntil(now),
                    inFlight = e.Runtime.InFlight,
                    latencyEwmaMs = e.Runtime.LatencyEwmaMs,
                })),
        };
        return Results.Json(body, statusCode: code);
    }
}
