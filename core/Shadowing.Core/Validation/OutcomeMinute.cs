using Shadowing.Core.Mirroring;

namespace Shadowing.Core.Validation;

/// <summary>
/// The outcomes of the copies one endpoint answered in one UTC minute, stored at
/// <c>outcomes/{service}/{endpoint}/{yyyy-MM-ddTHHmm}</c> (production-noise pairs under <see cref="NoiseEndpoint"/>).
/// At most <see cref="PerSlot"/> are kept for each <see cref="SlotLength"/> of the minute (enough for the judge's tests);
/// the rest are counted in <see cref="Dropped"/>. The cap is per slot, not first come for the whole minute: a busy
/// endpoint would fill the minute in its first seconds, and a window that starts later in it (the warm-up of a shadow
/// whose process was just restarted) would find no sample of its own. Router replicas merge into the same minute; a
/// redelivered outcome (same request) counts once.
/// </summary>
public sealed record OutcomeMinute
{
    /// <summary>The part of a minute with a cap of its own.</summary>
    public static readonly TimeSpan SlotLength = TimeSpan.FromSeconds(10);

    /// <summary>Slots in a minute.</summary>
    public const int Slots = 6;

    /// <summary>Outcomes kept per endpoint and slot.</summary>
    public const int PerSlot = 300;

    /// <summary>Outcomes kept per endpoint and minute at most.</summary>
    public const int Cap = Slots * PerSlot;

    /// <summary>The endpoint name under which production-noise outcomes (two production answers) are kept.</summary>
    public const string NoiseEndpoint = "~production";

    public required string Service { get; init; }

    public required string Endpoint { get; init; }

    public required DateTimeOffset Minute { get; init; }

    public IReadOnlyList<MirrorOutcome> Outcomes { get; init; } = [];

    /// <summary>Outcomes not kept because the minute was full.</summary>
    public long Dropped { get; init; }

    /// <summary>Adds <paramref name="more"/>, skipping requests already kept, up to <see cref="PerSlot"/> in each slot.</summary>
    public OutcomeMinute With(IEnumerable<MirrorOutcome> more)
    {
        ArgumentNullException.ThrowIfNull(more);
        var kept = Outcomes.ToList();
        var seen = kept.Select(o => o.RequestId).ToHashSet(StringComparer.Ordinal);
        var perSlot = KeptPerSlot();
        var dropped = Dropped;
        foreach (var outcome in more)
        {
            if (!seen.Add(outcome.RequestId))
            {
                continue;
            }

            var slot = SlotOf(outcome.ReceivedAt);
            if (perSlot[slot] < PerSlot)
            {
                perSlot[slot]++;
                kept.Add(outcome);
            }
            else
            {
                dropped++;
            }
        }

        return this with { Outcomes = kept, Dropped = dropped };
    }

    /// <summary>How many outcomes each slot keeps.</summary>
    public int[] KeptPerSlot()
    {
        var counts = new int[Slots];
        foreach (var outcome in Outcomes)
        {
            counts[SlotOf(outcome.ReceivedAt)]++;
        }

        return counts;
    }

    /// <summary>The slot of the minute a time falls in.</summary>
    public static int SlotOf(DateTimeOffset receivedAt) => (int)(receivedAt.UtcTicks % TimeSpan.TicksPerMinute / SlotLength.Ticks);

    /// <summary>The endpoint an outcome is filed under.</summary>
    public static string EndpointOf(MirrorOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return outcome.Kind == OutcomeKind.ProductionNoise ? NoiseEndpoint : outcome.Copy.EndpointId;
    }
}
