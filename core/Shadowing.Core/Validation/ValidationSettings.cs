namespace Shadowing.Core.Validation;

/// <summary>Which way a metric gets worse.</summary>
public enum MetricDirection
{
    /// <summary>Larger values are worse (latency, error rate).</summary>
    HigherIsWorse,

    /// <summary>Smaller values are worse (throughput).</summary>
    LowerIsWorse,
}

/// <summary>How one metric is judged: on or off, its weight in the score, and whether failing it fails the verdict.</summary>
public abstract record MetricCheck
{
    /// <summary>Judge this metric.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Weight in the score of the metrics that passed.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>A failure of this metric fails the verdict whatever the others say.</summary>
    public bool Critical { get; init; } = true;
}

/// <summary>Latency: Mann-Whitney U on the shadow's latencies against production's, tested against two bounds, and its slowest tenth.</summary>
public sealed record LatencyCheck : MetricCheck
{
    /// <summary>Which way is worse. Default HigherIsWorse.</summary>
    public MetricDirection Direction { get; init; } = MetricDirection.HigherIsWorse;

    /// <summary>
    /// Largest tolerated slowdown of the shadow's latencies relative to production's (0.1: 10 % slower), tested against
    /// it, so that a significant but tiny difference does not fail a shadow. Default 0.1.
    /// </summary>
    public double MaxRelativeShift { get; init; } = 0.1;

    /// <summary>
    /// Smallest slowdown, in ms, that can fail a shadow, whatever its relative size: copies and originals are
    /// timed by different parts of the router, and on a busy machine a few milliseconds separate them. Default 5.
    /// </summary>
    public double MinAbsoluteShiftMs { get; init; } = 5;
}

/// <summary>Error rate: 5xx answers, timeouts and refused connections, against production's, by a two-proportion score test against the bound.</summary>
public sealed record ErrorRateCheck : MetricCheck
{
    /// <summary>Largest tolerated excess of the shadow's error rate over production's, in absolute terms (0.01: one point). Default 0.01.</summary>
    public double MaxIncrease { get; init; } = 0.01;
}

/// <summary>Response mismatches: compared answers whose status or JSON fields differ from production's beyond production's own noise.</summary>
public sealed record MismatchCheck : MetricCheck
{
    /// <summary>Largest tolerated share of mismatching answers. Default 0.01.</summary>
    public double MaxRate { get; init; } = 0.01;

    /// <summary>JSON paths whose differences never count (besides the mirror policy's <c>ignoreFields</c>).</summary>
    public IReadOnlyList<string> IgnoreFields { get; init; } = [];
}

/// <summary>Throughput at the warm-up load: in minutes with enough copies, the share the shadow answered without error.</summary>
public sealed record ThroughputCheck : MetricCheck
{
    /// <summary>Smallest tolerated share of copies answered, per busy minute. Default 0.95.</summary>
    public double MinAnsweredShare { get; init; } = 0.95;

    /// <summary>Copies a minute needs to count as busy. Default 30.</summary>
    public int MinCopiesPerMinute { get; init; } = 30;

    /// <summary>Not critical by default: a shadow sized for less load can still be a safe standby.</summary>
    public ThroughputCheck() => Critical = false;
}

/// <summary>How shadows of a service are judged (routing-table field <c>validation</c>).</summary>
public sealed record ValidationSettings
{
    /// <summary>Confidence of the statistical tests (one-sided). Default 0.98, as Kayenta's judge.</summary>
    public double Confidence { get; init; } = 0.98;

    /// <summary>Samples each side needs before a metric is judged; fewer gives Inconclusive, never Pass. Default 50.</summary>
    public int MinSamples { get; init; } = 50;

    /// <summary>Share of the weight of the judged metrics that must pass (critical failures fail regardless). Default 1.</summary>
    public double PassScore { get; init; } = 1;

    /// <summary>How long a Pass allows promotion. Default 1 hour.</summary>
    public TimeSpan VerdictMaxAge { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Latency.</summary>
    public LatencyCheck Latency { get; init => field = value ?? new(); } = new();

    /// <summary>Error rate.</summary>
    public ErrorRateCheck ErrorRate { get; init => field = value ?? new(); } = new();

    /// <summary>Response mismatches.</summary>
    public MismatchCheck Mismatch { get; init => field = value ?? new(); } = new();

    /// <summary>Throughput at the warm-up load.</summary>
    public ThroughputCheck Throughput { get; init => field = value ?? new(); } = new();

    /// <summary>The problems of these settings, each naming its field (<c>validation.latency.maxRelativeShift</c>).</summary>
    public IReadOnlyList<Routing.RoutingTableError> Validate()
    {
        var errors = new List<Routing.RoutingTableError>();
        void Check(bool bad, string field, string message)
        {
            if (bad)
            {
                errors.Add(new($"validation.{field}", message));
            }
        }

        Check(!double.IsFinite(Confidence) || Confidence is <= 0.5 or >= 1, "confidence", $"must be above 0.5 and below 1, was {Confidence}");
        Check(MinSamples is < 5 or > 10_000_000, "minSamples", $"must be between 5 and 10,000,000, was {MinSamples}");
        Check(!double.IsFinite(PassScore) || PassScore is <= 0 or > 1, "passScore", $"must be above 0 and at most 1, was {PassScore}");
        Check(VerdictMaxAge <= TimeSpan.Zero, "verdictMaxAge", $"must be positive, was {VerdictMaxAge}");
        foreach (var (name, check) in new (string, MetricCheck?)[] { ("latency", Latency), ("errorRate", ErrorRate), ("mismatch", Mismatch), ("throughput", Throughput) })
        {
            if (check is null)
            {
                errors.Add(new($"validation.{name}", "must not be null"));
                continue;
            }

            Check(!double.IsFinite(check.Weight) || check.Weight < 0, $"{name}.weight", $"must be zero or more, was {check.Weight}");
        }

        Check(Latency is not null && !Enum.IsDefined(Latency.Direction), "latency.direction", $"'{Latency?.Direction}' is not one of {string.Join(", ", Enum.GetNames<MetricDirection>())}");
        Check(Latency is not null && (!double.IsFinite(Latency.MaxRelativeShift) || Latency.MaxRelativeShift < 0), "latency.maxRelativeShift", $"must be zero or more, was {Latency?.MaxRelativeShift}");
        Check(Latency is not null && (!double.IsFinite(Latency.MinAbsoluteShiftMs) || Latency.MinAbsoluteShiftMs < 0), "latency.minAbsoluteShiftMs", $"must be zero or more, was {Latency?.MinAbsoluteShiftMs}");
        Check(ErrorRate is not null && (!double.IsFinite(ErrorRate.MaxIncrease) || ErrorRate.MaxIncrease is < 0 or > 1), "errorRate.maxIncrease", $"must be between 0 and 1, was {ErrorRate?.MaxIncrease}");
        Check(Mismatch is not null && (!double.IsFinite(Mismatch.MaxRate) || Mismatch.MaxRate is < 0 or > 1), "mismatch.maxRate", $"must be between 0 and 1, was {Mismatch?.MaxRate}");
        Check(Throughput is not null && (!double.IsFinite(Throughput.MinAnsweredShare) || Throughput.MinAnsweredShare is < 0 or > 1), "throughput.minAnsweredShare", $"must be between 0 and 1, was {Throughput?.MinAnsweredShare}");
        Check(Throughput is not null && Throughput.MinCopiesPerMinute < 1, "throughput.minCopiesPerMinute", $"must be at least 1, was {Throughput?.MinCopiesPerMinute}");
        return errors;
    }

    /// <summary>
    /// Problems a table being written is refused for, but a stored one is not held to (see
    /// <see cref="Routing.RoutingTableValidator.ValidateNew"/>): settings under which no shadow could be judged.
    /// </summary>
    public IReadOnlyList<Routing.RoutingTableError> ValidateNew()
    {
        var enabled = new MetricCheck?[] { Latency, ErrorRate, Mismatch, Throughput }.Where(c => c is { Enabled: true }).ToList();
        return enabled.Count == 0 ? [new("validation", "enables no metric: a shadow could never be judged")]
            : enabled.All(c => c!.Weight == 0) ? [new("validation", "gives every enabled metric weight 0: the score would have nothing to weigh")]
            : [];
    }
}
