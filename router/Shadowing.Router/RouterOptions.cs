using System.ComponentModel.DataAnnotations;
using Shadowing.Core.Health;

namespace Shadowing.Router;

/// <summary>Router settings (configuration section <c>Router</c>). Every default is documented in README.md, "Configuration (section <c>Router</c>, defaults)".</summary>
public sealed class RouterOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Router";

    /// <summary>How often every routing table is re-read from the store, besides <c>routing-changed</c> events. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Weight of the newest latency sample in an endpoint's latency EWMA, in (0, 1]. Default 0.3.</summary>
    [Range(0.001, 1.0)]
    public double LatencyEwmaAlpha { get; set; } = 0.3;

    /// <summary>
    /// Forwarded requests an endpoint must have answered before its latency EWMA is judged against
    /// <c>maxLatencyMs</c>; their median starts the EWMA, so a cold endpoint is not called overloaded by its first
    /// slow answers (nor by health probes, which do not count). Default 5.
    /// </summary>
    [Range(1, 100)]
    public int LatencyMinSamples { get; set; } = 5;

    /// <summary>
    /// While an endpoint's latency EWMA is over its <c>maxLatencyMs</c>, one request per this interval still goes to
    /// it, so that real requests, the only measure of that latency, show when it is fast again. Default 5 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan LatencyRecheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether responses carry <c>x-shadowing-route</c> (production, shadow, default) and <c>x-shadowing-endpoint</c>
    /// (the endpoint id). Useful to see failover happen; turn off to hide topology. Default true.
    /// </summary>
    public bool RouteHeaders { get; set; } = true;

    /// <summary>
    /// The router is reached only through Dapr service invocation (no direct ingress): with <c>APP_API_TOKEN</c> set,
    /// <c>/{service}/…</c> then requires daprd's <c>dapr-api-token</c> like <c>/events/*</c> and <c>/dapr/subscribe</c>
    /// always do. Default false, so direct ingress clients keep working.
    /// </summary>
    public bool DaprInvocationOnly { get; set; }

    /// <summary>
    /// Bearer token that lets a caller read the details: every endpoint in <c>/healthz</c> and <c>/metrics</c>. Without
    /// it, only direct loopback callers may (not through a proxy or Dapr); everyone else gets healthy or not. Set it
    /// (at least 16 characters, from a secret) when Prometheus scrapes from another host. Default none.
    /// </summary>
    [MinLength(16)]
    public string? AdminToken { get; set; }

    /// <summary>
    /// How long the per-minute metric records are kept: every 10 minutes the router deletes the days that ended longer
    /// ago. The PAE reads <c>Pae:History</c> of them (28 days by default) and the status API's traffic view the last
    /// minutes, so keep it longer than <c>Pae:History</c>. At least 2 days. Default 35 days.
    /// </summary>
    [Range(typeof(TimeSpan), "2.00:00:00", "3650.00:00:00")]
    public TimeSpan MetricsRetention { get; set; } = TimeSpan.FromDays(35);

    /// <summary>Active health probing.</summary>
    [Required]
    public ActiveHealthCheckOptions ActiveHealthChecks { get; set; } = new();

    /// <summary>Passive outlier detection.</summary>
    [Required]
    public OutlierDetectionOptions OutlierDetection { get; set; } = new();

    /// <summary>Forwarding timeouts and limits.</summary>
    [Required]
    public ForwardingOptions Forwarding { get; set; } = new();

    /// <summary>What a client may send: request size, header and body deadlines, uploads in flight.</summary>
    [Required]
    public RequestLimitsOptions Limits { get; set; } = new();

    /// <summary>The mirror's queue and senders (the policy itself is per service, in the routing table).</summary>
    [Required]
    public Mirroring.MirroringOptions Mirroring { get; set; } = new();

    /// <summary>The alert webhook.</summary>
    [Required]
    public Alerts.AlertOptions Alerts { get; set; } = new();
}

/// <summary>Forwarding settings (section <c>Router:Forwarding</c>).</summary>
public sealed class ForwardingOptions
{
    /// <summary>Time allowed to open a connection to an endpoint. Default 2 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Time allowed for an endpoint to start answering (and between reads of a body). Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Largest request body kept so that an idempotent request (PUT, DELETE, configured POST …) can be retried
    /// on the next endpoint (up to 64 KiB in memory, the rest in a temporary file under <c>ASPNETCORE_TEMP</c>), for as long
    /// as the request is forwarded. Larger bodies are streamed and not retried. Default 1 MiB.
    /// </summary>
    [Range(0, 1L << 30)]
    public long RetryBodyLimitBytes { get; set; } = 1 << 20;
}

/// <summary>
/// Client request limits (section <c>Router:Limits</c>), applied to Kestrel and to the forwarder. Set here rather than
/// left to Kestrel's defaults so they are documented, validated and the same wherever the router runs.
/// </summary>
public sealed class RequestLimitsOptions
{
    /// <summary>Largest request body; a larger Content-Length is refused with 413 before any endpoint is contacted. Default 30,000,000.</summary>
    [Range(0, 1L << 40)]
    public long MaxRequestBodyBytes { get; set; } = 30_000_000;

    /// <summary>Most request headers; more is 431. Default 100.</summary>
    [Range(1, 1000)]
    public int MaxRequestHeaderCount { get; set; } = 100;

    /// <summary>Largest size of all request headers together; more is 431. Default 32 KiB.</summary>
    [Range(1024, 1 << 20)]
    public int MaxRequestHeadersTotalBytes { get; set; } = 32 * 1024;

    /// <summary>Longest request line (method, target, version); longer is 414. Default 8 KiB.</summary>
    [Range(256, 1 << 20)]
    public int MaxRequestLineBytes { get; set; } = 8 * 1024;

    /// <summary>Time a client has to send all request headers (slow-header clients are cut off). Default 15 s.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Time an idle keep-alive connection is kept open. Default 130 s (longer than common load balancers' idle timeouts).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>Slowest request body, in bytes per second, after a 5 s grace; slower uploads are cut off with 408. Default 240.</summary>
    [Range(1, 1 << 30)]
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>
    /// Time a request body may take in all, however steadily it trickles (a client sending 300 B/s passes the minimum
    /// rate yet holds an endpoint slot for an hour on a 1 MB body); past it the request fails with 408 and the
    /// endpoint's health is not charged. Default 60 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan BodyUploadTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Share of a service's production capacity (the sum of its endpoints' <c>maxConcurrency</c>) that requests still
    /// uploading their body may hold; beyond it a request with a body is refused with 503 before an endpoint is
    /// chosen, so slow uploads cannot take every slot and push other clients off production. Default 0.5.
    /// </summary>
    [Range(0.01, 1.0)]
    public double MaxUploadingShare { get; set; } = 0.5;
}
