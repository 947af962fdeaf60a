namespace Shadowing.Core.Shadows;

/// <summary>Why shadows are requested.</summary>
public enum ShadowRequestKind
{
    /// <summary>Forecast demand exceeds production capacity.</summary>
    Demand,

    /// <summary>Failure risk crossed its threshold.</summary>
    Risk,

    /// <summary>An operator asked for it (<c>POST /api/services/{service}/shadows</c>).</summary>
    Manual,
}

/// <summary>
/// A request for shadows of a service over a window, for the provisioning workflow. Stored at
/// <c>shadow-requests/{service}/{windowStart:yyyyMMddTHHmmZ}</c> and published on topic <c>shadow-requests</c>.
/// </summary>
public sealed record ShadowRequest
{
    /// <summary><c>{service}/{window start}</c>; stable while the request is merged with later, overlapping ones.</summary>
    public required string Id { get; init; }

    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>Shadows wanted.</summary>
    public required int Count { get; init; }

    /// <summary>When the shadows must be ready (pre-warmed).</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>When they may be retired.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <summary>What triggered it.</summary>
    public required IReadOnlyList<ShadowRequestKind> Kinds { get; init; }

    /// <summary>Human-readable reason, with the numbers.</summary>
    public required string Reason { get; init; }

    /// <summary>When first requested.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>When last changed (count or window).</summary>
    public required DateTimeOffset UpdatedAt { get; init; }

    /// <summary>
    /// How long failure risk asked to hold shadows (the latest risk request's end), when it did: a window demand also asked
    /// for may end early down to it, never before.
    /// </summary>
    public DateTimeOffset? RiskUntil { get; init; }

    /// <summary>
    /// The latest end an operator asked for (<c>POST /api/services/{service}/shadows</c>), when one did: a window demand
    /// also asked for may end early down to it, never before. A request stored without it keeps its window.
    /// </summary>
    public DateTimeOffset? ManualUntil { get; init; }

    /// <summary>The id for a service and window start.</summary>
    public static string IdOf(string service, DateTimeOffset windowStart) => $"{service}/{windowStart.UtcDateTime:yyyyMMdd'T'HHmm'Z'}";
}
