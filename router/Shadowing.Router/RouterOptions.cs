using System.ComponentModel.DataAnnotations;
using Shadowing.Core.Health;

namespace Shadowing.Router;

/// <summary>Router settings (configuration section <c>Router</c>). Every default is documented in router/README.md.</summary>
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

    /// <summary>Active health probing.</summary>
    [Required]
    public ActiveHealthCheckOptions ActiveHealthChecks { get; set; } = new();

    /// <summary>Passive outlier detection.</summary>
    [Required]
    public OutlierDetectionOptions OutlierDetection { get; set; } = new();

    /// <summary>Forwarding timeouts and limits.</summary>
    [Required]
    public ForwardingOptions Forwarding { get; set; } = new();

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
    /// on the next endpoint. Larger bodies are streamed and not retried. Default 1 MiB.
    /// </summary>
    [Range(0, 1L << 30)]
    public long RetryBodyLimitBytes { get; set; } = 1 << 20;
}
