using Shadowing.Core.Mirroring;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Core.Validation;

/// <summary>
/// The outcomes of the copies one endpoint answered in one <see cref="Length"/> of a UTC minute, stored at
/// <c>outcome-slots/{service}/{endpoint}/{yyyy-MM-ddTHH}/{mmss}</c> (<c>mmss</c>: the minute and second the slot starts; production-noise
/// pairs under <see cref="NoiseEndpoint"/>). At most <see cref="Cap"/> are kept (enough for the judge's tests), those of
/// lowest <see cref="Rank"/>; the rest are counted in <see cref="Dropped"/>. Router replicas merge into the same slot; a redelivered outcome (same request)
/// counts once.
/// </summary>
/// <remarks>
/// <para>Capped per slot, not first come for the whole minute: a busy endpoint would fill a minute in its first seconds,
/// and a window that starts later in it (the warm-up of a shadow whose process was just restarted) would find no sample of
/// its own.</para>
/// <para>One document per slot, not per minute: the router rewrites a document each time it adds to it, and a full slot of
/// typical outcomes (62 KB of JSON in a soak) stays below the runtime's 85,000-byte large-object threshold, where a minute's
/// 1,800 outcomes (most of a megabyte) were rewritten every 2 s as large objects that only a full collection frees. The cap
/// counts outcomes, not bytes: outcomes with long paths or many differing fields make larger documents.</para>
/// </remarks>
public sealed record OutcomeSlot
{
    /// <summary>The part of a minute one document covers; it divides a minute.</summary>
    public static readonly TimeSpan Length = TimeSpan.FromSeconds(4);

    /// <summary>Outcomes kept per endpoint and slot.</summary>
    public const int Cap = 120;

    /// <summary>The endpoint name under which production-noise outcomes (two production answers) are kept.</summary>
    public const string NoiseEndpoint = "~production";

    public required string Service { get; init; }

    public required string Endpoint { get; init; }

    /// <summary>When the slot starts (UTC, a multiple of <see cref="Length"/>).</summary>
    public required DateTimeOffset Start { get; init; }

    public IReadOnlyList<MirrorOutcome> Outcomes { get; init; } = [];

    /// <summary>Outcomes not kept because the slot was full.</summary>
    public long Dropped { get; init; }

    /// <summary>Whether the slot keeps no more outcomes.</summary>
    public bool IsFull => Outcomes.Count >= Cap;

    /// <summary>
    /// The <see cref="Rank"/> a kept outcome must stay below for the slot to take a new one once it is full; null while
    /// it is not full.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ulong? Threshold => IsFull ? Outcomes.Max(o => Rank(o.RequestId)) : null;

    /// <summary>
    /// Adds <paramref name="more"/> (all received in this slot), skipping requests already kept; past <see cref="Cap"/>
    /// it keeps the outcomes of lowest <see cref="Rank"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An outcome was received outside this slot.</exception>
    public OutcomeSlot With(IEnumerable<MirrorOutcome> more)
    {
        ArgumentNullException.ThrowIfNull(more);
        var kept = Outcomes.ToList();
        var seen = kept.Select(o => o.RequestId).ToHashSet(StringComparer.Ordinal);
        foreach (var outcome in more)
        {
            if (StartOf(outcome.ReceivedAt) != Start)
            {
                throw new ArgumentException($"Outcome '{outcome.RequestId}' was received at {outcome.ReceivedAt:O}, outside the slot starting {Start:O}.", nameof(more));
            }

            if (seen.Add(outcome.RequestId))
            {
                kept.Add(outcome);
            }
        }

        if (kept.Count <= Cap)
        {
            return this with { Outcomes = kept };
        }

        // Not the first to complete: slow answers and timeouts complete last and would never be judged.
        return this with { Outcomes = [.. kept.OrderBy(o => Rank(o.RequestId)).Take(Cap)], Dropped = Dropped + kept.Count - Cap };
    }

    /// <summary>
    /// Where a request falls in the slot's sample: a hash of its id, the same on every router replica, so the outcomes
    /// kept are a uniform sample of the slot's requests however late each copy completed, and replicas merging their
    /// outcomes keep the same ones.
    /// </summary>
    public static ulong Rank(string requestId)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        var hash = Data.DataHash.Of(System.Text.Encoding.UTF8.GetBytes(requestId));

        // FNV-1a mixes a string's last characters into the high bits weakly: finish it (murmur3's fmix64).
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccd;
        hash ^= hash >> 33;
        hash *= 0xc4ceb9fe1a85ec53;
        return hash ^ (hash >> 33);
    }

    /// <summary>The start of the slot a time falls in.</summary>
    public static DateTimeOffset StartOf(DateTimeOffset receivedAt) => TimeGrid.Floor(receivedAt, Length);

    /// <summary>The start of the UTC hour of <paramref name="time"/>: the collection its slot is kept in.</summary>
    public static DateTimeOffset HourOf(DateTimeOffset time) => TimeGrid.Floor(time, TimeSpan.FromHours(1));

    /// <summary>The endpoint an outcome is filed under.</summary>
    public static string EndpointOf(MirrorOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return outcome.Kind == OutcomeKind.ProductionNoise ? NoiseEndpoint : outcome.Copy.EndpointId;
    }
}
