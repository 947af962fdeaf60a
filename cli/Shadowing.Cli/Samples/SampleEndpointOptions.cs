using System.ComponentModel.DataAnnotations;

namespace Shadowing.Cli.Samples;

/// <summary>One process of the sample service.</summary>
public sealed class SampleEndpointOptions
{
    /// <summary>Endpoint id in the routing table.</summary>
    [Required]
    public string Id { get; set; } = string.Empty;

    /// <summary>Loopback port; 0 picks a free one.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Requests it works on at once; more wait in line, so latency grows under overload.</summary>
    [Range(1, 100_000)]
    public int Capacity { get; set; } = 16;

    /// <summary>Base time to answer one request, ms.</summary>
    [Range(0, 600_000)]
    public double LatencyMs { get; set; } = 20;

    /// <summary>Share of requests answered 500, in [0, 1].</summary>
    [Range(0.0, 1.0)]
    public double ErrorRate { get; set; }

    /// <summary>Router threshold: in-flight requests at which it counts as overloaded. Defaults to <see cref="Capacity"/>.</summary>
    [Range(1, 100_000)]
    public int? MaxConcurrency { get; set; }
}

/// <summary>A sample service: production processes and an optional default (section <c>Samples:{service}</c>).</summary>
public sealed class SampleServiceOptions
{
    /// <summary>Router latency threshold for the production endpoints, ms; none when null.</summary>
    [Range(1.0, 600_000.0)]
    public double? MaxLatencyMs { get; set; }

    /// <summary>Production endpoints.</summary>
    public List<SampleEndpointOptions> Production { get; set; } = [];

    /// <summary>The default endpoint, if any.</summary>
    public SampleEndpointOptions? Default { get; set; }
}
