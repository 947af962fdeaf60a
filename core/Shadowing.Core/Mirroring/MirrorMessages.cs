namespace Shadowing.Core.Mirroring;

/// <summary>What one endpoint answered to a request or its copy.</summary>
/// <param name="EndpointId">The endpoint.</param>
/// <param name="Status">HTTP status; 0 when it did not answer (connect failure, timeout).</param>
/// <param name="LatencyMs">Time to the end of its answer.</param>
/// <param name="Bytes">Size of the answer's body.</param>
/// <param name="BodyDigest">SHA-256 of the answer's body (hex), when it was captured.</param>
/// <param name="Error">Why it did not answer, when it did not.</param>
/// <param name="TimedOut">It did not answer within the copy's timeout: <paramref name="LatencyMs"/> is then that timeout, a latency at least that long.</param>
public sealed record EndpointAnswer(
    string EndpointId,
    int Status,
    double LatencyMs,
    long Bytes,
    string? BodyDigest = null,
    string? Error = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)] bool TimedOut = false);

/// <summary>The kind of comparison an outcome reports.</summary>
public enum OutcomeKind
{
    /// <summary>A shadow's answer against production's.</summary>
    Shadow,

    /// <summary>A second production endpoint's answer against the first's: production's own noise.</summary>
    ProductionNoise,
}

/// <summary>
/// One mirrored request's outcome, published on topic <c>shadow-outcomes</c> for validation: production's answer,
/// the copy's, and the JSON paths whose values differ (ignored fields left out). Never carries bodies or headers.
/// </summary>
public sealed record MirrorOutcome
{
    /// <summary>
    /// The copy's stable id: the request's id, the same for every shadow it went to; an amplified replay's is
    /// <c>{request id}#{replay}</c> (see <see cref="OriginalRequestId"/>).
    /// </summary>
    public required string RequestId { get; init; }

    /// <summary>What separates a request's id from its replay's number in <see cref="RequestId"/>.</summary>
    public const char ReplaySeparator = '#';

    /// <summary>The id of the request this copy was made of: the same for every replay of it.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string OriginalRequestId => RequestId.IndexOf(ReplaySeparator, StringComparison.Ordinal) is var at and >= 0 ? RequestId[..at] : RequestId;

    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>Shadow against production, or production against production.</summary>
    public OutcomeKind Kind { get; init; } = OutcomeKind.Shadow;

    /// <summary>The request method.</summary>
    public required string Method { get; init; }

    /// <summary>The path below the service (no query string).</summary>
    public required string Path { get; init; }

    /// <summary>When production received the original.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>
    /// When the copy was sent: just after production answered with the direct transport; with pub/sub, its
    /// <c>timeShift</c> or more later. Null in outcomes recorded before it was kept.
    /// </summary>
    public DateTimeOffset? SentAt { get; init; }

    /// <summary>What production answered.</summary>
    public required EndpointAnswer Production { get; init; }

    /// <summary>What the copy's endpoint answered.</summary>
    public required EndpointAnswer Copy { get; init; }

    /// <summary>JSON paths whose values differ between the two answers (empty when equal or not JSON).</summary>
    public IReadOnlyList<string> DifferingPaths { get; init; } = [];

    /// <summary>Whether the bodies were compared: both captured and within the size cap.</summary>
    public bool Compared { get; init; }
}

/// <summary>
/// A mirrored request on topic <c>mirror.{service}</c> (the pub/sub transport), with what production answered so the
/// replayer can report the outcome: its status, time and size, and its body only as a fingerprint. Credentials and configured
/// fields are already removed.
/// </summary>
public sealed record MirroredRequest
{
    /// <summary>Stable id: a replay of the same id is delivered once (unless amplified).</summary>
    public required string Id { get; init; }

    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>The method.</summary>
    public required string Method { get; init; }

    /// <summary>The path below the service.</summary>
    public required string Path { get; init; }

    /// <summary>The path below the service as the client sent it, when it has escapes (an encoded slash stays encoded); null otherwise.</summary>
    public string? RawPath { get; init; }

    /// <summary>The query string, with configured parameters removed (starting with '?', or empty).</summary>
    public string Query { get; init; } = string.Empty;

    /// <summary>Headers kept, as name → values.</summary>
    public IReadOnlyDictionary<string, string[]> Headers { get; init; } = new Dictionary<string, string[]>();

    /// <summary>The request body (base64 in JSON), possibly empty.</summary>
    public byte[] Body { get; init; } = [];

    /// <summary>When production received the original.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>Shadows to deliver to.</summary>
    public required IReadOnlyList<string> Targets { get; init; }

    /// <summary>A second production endpoint to send the copy to as well (production's own noise), if one was chosen.</summary>
    public string? Secondary { get; init; }

    /// <summary>What production answered.</summary>
    public required EndpointAnswer Production { get; init; }

    /// <summary>
    /// Production's body, when captured, as its <see cref="AnswerFingerprint"/> salted with <see cref="Id"/> (its shape, values
    /// hashed), for the replayer's comparison: the broker never holds production's answer. Null when the fingerprint would be
    /// longer than the policy's <c>maxBodyBytes</c> (an answer of many short values grows, 5.5 times for an array of one-digit numbers): that copy is not compared.
    /// </summary>
    public byte[]? ProductionFingerprint { get; init; }

    /// <summary>Dropped when it could only be replayed after this.</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>W3C trace context linking the copy to the original.</summary>
    public string? TraceParent { get; init; }
}
