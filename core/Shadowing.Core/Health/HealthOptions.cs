using System.ComponentModel.DataAnnotations;

namespace Shadowing.Core.Health;

/// <summary>Active health probing of every endpoint (configuration section <c>Router:ActiveHealthChecks</c>).</summary>
public sealed class ActiveHealthCheckOptions
{
    /// <summary>Whether endpoints are probed at all. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between probes of one endpoint. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A probe slower than this fails. Default 2 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Consecutive successful probes that make an unhealthy endpoint healthy again. Default 2.</summary>
    [Range(1, 100)]
    public int HealthyThreshold { get; set; } = 2;

    /// <summary>Consecutive failed probes that make an endpoint unhealthy. Default 3.</summary>
    [Range(1, 100)]
    public int UnhealthyThreshold { get; set; } = 3;

    /// <summary>Path probed on each endpoint (below its base path); a 2xx answer is a success. Default <c>/healthz</c>.</summary>
    [Required]
    [RegularExpression("^/.*", ErrorMessage = "The probe path must start with '/'.")]
    public string Path { get; set; } = "/healthz";
}

/// <summary>Passive outlier detection from forwarded traffic (section <c>Router:OutlierDetection</c>).</summary>
public sealed class OutlierDetectionOptions
{
    /// <summary>Consecutive connect failures, timeouts or 5xx answers that eject an endpoint. Default 5.</summary>
    [Range(1, 1000)]
    public int ConsecutiveFailures { get; set; } = 5;

    /// <summary>First ejection time; each further ejection doubles it. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Cap on the ejection time. Default 5 min.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromMinutes(5);
}
