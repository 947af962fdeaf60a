namespace Shadowing.Core.Mirroring;

/// <summary>How the requests to mirror are picked.</summary>
public enum MirrorSelectorKind
{
    /// <summary>Each request on its own, at random.</summary>
    Random,

    /// <summary>Consistently by the value of a request header (a user or session id).</summary>
    Header,

    /// <summary>Consistently by the value of a cookie.</summary>
    Cookie,

    /// <summary>Consistently by the value of a query parameter.</summary>
    Query,

    /// <summary>Consistently by a claim of the bearer JWT (read without validating it: only its hash is used).</summary>
    JwtClaim,
}

/// <summary>How mirrored copies travel to shadows.</summary>
public enum MirrorTransport
{
    /// <summary>HTTP from the router to each shadow, after production's response was sent.</summary>
    Direct,

    /// <summary>A CloudEvent on topic <c>mirror.{service}</c>, delivered to shadows by the replayer (time shift, rate, amplification).</summary>
    PubSub,
}

/// <summary>The requests to mirror: a key read from each request, or none (random).</summary>
public sealed record MirrorSelector
{
    /// <summary>Random or consistent, and by what.</summary>
    public MirrorSelectorKind Kind { get; init; } = MirrorSelectorKind.Random;

    /// <summary>The header, cookie, query parameter or claim (such as <c>sub</c>) holding the key; required unless <see cref="Kind"/> is Random.</summary>
    public string? Name { get; init; }
}

/// <summary>
/// Which requests of a service are copied to its shadows, and how (routing-table field <c>mirror</c>). Mirroring
/// never changes what production answers: copies are sent after production's response, from a bounded queue.
/// </summary>
public sealed record MirrorPolicy
{
    // Lists read as empty (Methods as its default) when a table written by another tool holds null: every reader walks them.
    private static readonly IReadOnlyList<string> DefaultMethods = ["GET", "HEAD", "OPTIONS"];

    /// <summary>Mirroring on or off without losing the rest of the policy.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Share of requests mirrored, in percent, down to 0.01.</summary>
    public double Percent { get; init; }

    /// <summary>How requests are picked. Consistent selection keeps the same users in the sample, and raising <see cref="Percent"/> only adds users.</summary>
    public MirrorSelector Selector { get; init => field = value ?? new(); } = new();

    /// <summary>
    /// Salt of the consistent hash, so two services do not sample the same users. Default: the service name.
    /// </summary>
    public string? Salt { get; init; }

    /// <summary>
    /// Methods mirrored. Default GET, HEAD and OPTIONS. Other methods (writes) go only to shadows whose entry says
    /// <c>dataIsolated: true</c>.
    /// </summary>
    public IReadOnlyList<string> Methods { get; init => field = value ?? DefaultMethods; } = DefaultMethods;

    /// <summary>Paths below the service that may be mirrored (glob: <c>*</c> within a segment, <c>**</c> across); all when empty.</summary>
    public IReadOnlyList<string> IncludePaths { get; init => field = value ?? []; } = [];

    /// <summary>Paths never mirrored (same glob).</summary>
    public IReadOnlyList<string> ExcludePaths { get; init => field = value ?? []; } = [];

    /// <summary>Largest request or response body captured for a copy; a larger one is not mirrored, and is counted. Default 64 KiB.</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>Shadows mirrored to, by id; empty: every shadow in WarmingUp, Validating or PreWarmed, and Active ones (safe requests only).</summary>
    public IReadOnlyList<string> Targets { get; init => field = value ?? []; } = [];

    /// <summary>Direct or through pub/sub.</summary>
    public MirrorTransport Transport { get; init; } = MirrorTransport.Direct;

    /// <summary>Time a shadow may take to answer a copy. Default 10 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Request headers removed from copies besides the credentials always removed (Authorization, Cookie, dapr-api-token, x-functions-key).</summary>
    public IReadOnlyList<string> StripHeaders { get; init => field = value ?? []; } = [];

    /// <summary>Query parameters removed from copies (for example <c>api_key</c>).</summary>
    public IReadOnlyList<string> StripQuery { get; init => field = value ?? []; } = [];

    /// <summary>Top-level or dotted JSON body fields removed from copies (for example <c>card.number</c>).</summary>
    public IReadOnlyList<string> StripJsonFields { get; init => field = value ?? []; } = [];

    /// <summary>JSON paths of answers whose differences do not count (timestamps, request ids).</summary>
    public IReadOnlyList<string> IgnoreFields { get; init => field = value ?? []; } = [];

    /// <summary>
    /// Share (0–1) of mirrored safe requests also sent to a second production endpoint, so validation can tell
    /// production's own noise from a shadow's differences. Default 0.1.
    /// </summary>
    public double SecondaryShare { get; init; } = 0.1;

    /// <summary>Pub/sub: copies are replayed this long after the original (shadows trailing production). Default 0.</summary>
    public TimeSpan TimeShift { get; init; }

    /// <summary>Pub/sub: each safe copy is replayed this many times (load at the level a shadow is being prepared for). Default 1.</summary>
    public int Amplify { get; init; } = 1;

    /// <summary>
    /// Pub/sub: pace safe copies to this many per second per shadow (for example the forecast's p90 for the coming
    /// window), replaying each one as often as the observed mirrored rate falls short; instead of <see cref="Amplify"/>.
    /// </summary>
    public double? TargetRatePerSecond { get; init; }

    /// <summary>Pub/sub: most copies replayed per second per shadow; no limit when null.</summary>
    public double? RatePerSecond { get; init; }

    /// <summary>Pub/sub: a copy older than this when it could be replayed is dropped. Default 10 min.</summary>
    public TimeSpan TimeToLive { get; init; } = TimeSpan.FromMinutes(10);
}
