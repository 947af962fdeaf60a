using Shadowing.Core.Shadows;

namespace Shadowing.Core.Routing;

/// <summary>
/// How requests for one service are routed: its production endpoints with their load thresholds, its shadows
/// with their lifecycle state, and a default endpoint of last resort. Stored at <c>routing/{service}</c>.
/// </summary>
public sealed record RoutingTable
{
    /// <summary>The service name: the first path segment of requests sent to the router.</summary>
    public required string Service { get; init; }

    /// <summary>Production endpoints, preferred while healthy and under their thresholds.</summary>
    public IReadOnlyList<ProductionEndpoint> Production { get; init => field = value ?? []; } = [];

    /// <summary>Shadow endpoints; only PreWarmed and Active ones receive production traffic.</summary>
    public IReadOnlyList<ShadowEndpoint> Shadows { get; init => field = value ?? []; } = [];

    /// <summary>Used when neither production nor a shadow can take a request.</summary>
    public DefaultEndpoint? Default { get; init; }

    /// <summary>
    /// Requests that may be retried on another endpoint although their method is not idempotent by definition
    /// (GET, HEAD, OPTIONS, PUT and DELETE always may).
    /// </summary>
    public IReadOnlyList<IdempotentRequestRule> IdempotentRequests { get; init => field = value ?? []; } = [];

    /// <summary>Which requests are copied to the shadows, and how; no mirroring when null.</summary>
    public Mirroring.MirrorPolicy? Mirror { get; init; }

    /// <summary>How this service's shadows are judged against production; the defaults when null.</summary>
    public Validation.ValidationSettings? Validation { get; init; }

    /// <summary>Returns a copy with shadow <paramref name="shadowId"/> moved to <paramref name="state"/>, if the lifecycle allows it.</summary>
    /// <exception cref="KeyNotFoundException">No shadow has that id.</exception>
    /// <exception cref="InvalidShadowTransitionException">The lifecycle does not allow the move.</exception>
    public RoutingTable WithShadowState(string shadowId, ShadowState state, DateTimeOffset now)
    {
        var index = Shadows.ToList().FindIndex(s => s.Id == shadowId);
        if (index < 0)
        {
            throw new KeyNotFoundException($"Service '{Service}' has no shadow '{shadowId}'.");
        }

        var shadow = Shadows[index];
        ShadowLifecycle.EnsureCanTransition(shadowId, shadow.State, state);
        var shadows = Shadows.ToArray();
        shadows[index] = shadow with { State = state, StateChangedAt = now };
        return this with { Shadows = shadows };
    }
}

/// <summary>A production endpoint with its load thresholds.</summary>
public sealed record ProductionEndpoint
{
    /// <summary>Unique within the table; names the endpoint in metrics and logs.</summary>
    public required string Id { get; init; }

    /// <summary><c>http(s)://…</c> or <c>dapr://app-id</c>.</summary>
    public required string Address { get; init; }

    /// <summary>In-flight requests at or above which the endpoint counts as overloaded.</summary>
    public required int MaxConcurrency { get; init; }

    /// <summary>Latency (EWMA, milliseconds) above which the endpoint counts as overloaded; none when null.</summary>
    public double? MaxLatencyMs { get; init; }
}

/// <summary>A shadow endpoint.</summary>
public sealed record ShadowEndpoint
{
    /// <summary>Unique within the table.</summary>
    public required string Id { get; init; }

    /// <summary><c>http(s)://…</c> or <c>dapr://app-id</c>.</summary>
    public required string Address { get; init; }

    /// <summary>Lifecycle state; change it only through <see cref="RoutingTable.WithShadowState"/>.</summary>
    public ShadowState State { get; init; } = ShadowLifecycle.Initial;

    /// <summary>When <see cref="State"/> last changed.</summary>
    public DateTimeOffset? StateChangedAt { get; init; }

    /// <summary>Optional concurrency limit; none when null.</summary>
    public int? MaxConcurrency { get; init; }

    /// <summary>The workflow instance that created and runs this shadow; none for shadows written by hand.</summary>
    public string? Owner { get; init; }

    /// <summary>Optional latency limit (EWMA, ms); none when null.</summary>
    public double? MaxLatencyMs { get; init; }

    /// <summary>
    /// The shadow runs on data of its own (not production's), so mirrored writes (POST, PUT, DELETE …) may reach it.
    /// Without it, only the policy's safe methods are mirrored to it.
    /// </summary>
    public bool DataIsolated { get; init; }

    /// <summary>
    /// The shadow's copy holds masked or synthetic values, no real personal data: the mirror sends it no writes, whose
    /// bodies carry real values (an order's address, a sign-up's e-mail) that masking never saw and the copy would keep.
    /// </summary>
    public bool DataMasked { get; init; }
}

/// <summary>The endpoint of last resort, for example a static "busy" page or a degraded mode.</summary>
public sealed record DefaultEndpoint
{
    /// <summary>Unique within the table.</summary>
    public required string Id { get; init; }

    /// <summary><c>http(s)://…</c> or <c>dapr://app-id</c>.</summary>
    public required string Address { get; init; }
}

/// <summary>Marks requests as safe to retry on another endpoint.</summary>
public sealed record IdempotentRequestRule
{
    /// <summary>HTTP method, for example POST.</summary>
    public required string Method { get; init; }

    /// <summary>Path below the service (starting with '/'): the request's path or a path below it, by whole segments (<c>/search</c> covers <c>/search/x</c>, not <c>/searches</c>); any path when null.</summary>
    public string? PathPrefix { get; init; }
}
