using Shadowing.Core.Mirroring;

namespace Shadowing.Core.Validation;

/// <summary>
/// The outcomes of the copies one endpoint answered in one UTC minute, stored at
/// <c>outcomes/{service}/{endpoint}/{yyyy-MM-ddTHHmm}</c> (production-noise pairs under <see cref="NoiseEndpoint"/>).
/// At most <see cref="Cap"/> are kept per minute (enough for the judge's tests); the rest are counted in
/// <see cref="Dropped"/>. Router replicas merge into the same minute; a redelivered outcome (same request) counts once.
/// </summary>
public sealed record OutcomeMinute
{
    /// <summary>Outcomes kept per endpoint and minute.</summary>
    public const int Cap = 2000;

    /// <summary>The endpoint name under which production-noise outcomes (two production answers) are kept.</summary>
    public const string NoiseEndpoint = "~production";

    public required string Service { get; init; }

    public required string Endpoint { get; init; }

    public required DateTimeOffset Minute { get; init; }

    public IReadOnlyList<MirrorOutcome> Outcomes { get; init; } = [];

    /// <summary>Outcomes not kept because the minute was full.</summary>
    public long Dropped { get; init; }

    /// <summary>Adds <paramref name="more"/>, skipping requests already kept, up to <see cref="Cap"/>.</summary>
    public OutcomeMinute With(IEnumerable<MirrorOutcome> more)
    {
        ArgumentNullException.ThrowIfNull(more);
        var kept = Outcomes.ToList();
        var seen = kept.Select(o => o.RequestId).ToHashSet(StringComparer.Ordinal);
        var dropped = Dropped;
        foreach (var outcome in more)
        {
            if (!seen.Add(outcome.RequestId))
            {
                continue;
            }

            if (kept.Count < Cap)
            {
                kept.Add(outcome);
            }
            else
            {
                dropped++;
            }
        }

        return this with { Outcomes = kept, Dropped = dropped };
    }

    /// <summary>The endpoint an outcome is filed under.</summary>
    public static string EndpointOf(MirrorOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return outcome.Kind == OutcomeKind.ProductionNoise ? NoiseEndpoint : outcome.Copy.EndpointId;
    }
}
