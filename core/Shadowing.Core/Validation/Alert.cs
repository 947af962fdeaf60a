namespace Shadowing.Core.Validation;

/// <summary>What an alert is about.</summary>
public enum AlertKind
{
    /// <summary>A shadow's validation failed.</summary>
    ValidationFailed,

    /// <summary>The router sent a service's traffic to a shadow or its default endpoint.</summary>
    Failover,

    /// <summary>The router serves routing tables it could not refresh.</summary>
    StaleRoutingTable,

    /// <summary>A shadow was retired because it could not be started, validated or remediated.</summary>
    ShadowFailed,
}

/// <summary>
/// An alert on topic <c>alerts</c> (and to the configured webhook). Never carries request bodies, headers or
/// anything a client sent: names, verdicts and reasons only.
/// </summary>
public sealed record Alert
{
    public required AlertKind Kind { get; init; }

    public required string Service { get; init; }

    /// <summary>The shadow or endpoint concerned, when there is one.</summary>
    public string? Endpoint { get; init; }

    /// <summary>The verdict, for a validation alert.</summary>
    public Verdict? Verdict { get; init; }

    /// <summary>Why, one line each.</summary>
    public IReadOnlyList<string> Reasons { get; init; } = [];

    /// <summary>Where to look: the state key of the verdict, or of the routing table.</summary>
    public string? Status { get; init; }

    public required DateTimeOffset At { get; init; }
}
