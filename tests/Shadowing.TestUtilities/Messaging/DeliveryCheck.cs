namespace Shadowing.TestUtilities.Messaging;

/// <summary>
/// Jepsen's queue checker for an at-least-once path, counted at both ends: every item sent must have reached the far end
/// (its effect, counted once however many times it was delivered) or be in the dead-letter record; nothing may arrive
/// that was never sent. Duplicates are deliveries beyond the first, which an idempotent consumer absorbs.
/// </summary>
/// <param name="Sent">Distinct items sent.</param>
/// <param name="Delivered">Distinct items that reached the far end.</param>
/// <param name="DeadLettered">Distinct items in the dead-letter record and never delivered.</param>
/// <param name="Lost">Items sent, neither delivered nor dead-lettered.</param>
/// <param name="Unexpected">Items delivered or dead-lettered that were never sent.</param>
/// <param name="Duplicates">Deliveries beyond the first of an item.</param>
public sealed record DeliveryCheck(int Sent, int Delivered, int DeadLettered, IReadOnlyList<string> Lost, IReadOnlyList<string> Unexpected, int Duplicates)
{
    /// <summary>Sent equals delivered plus dead-lettered, nothing lost, nothing unexpected.</summary>
    public bool Holds => Lost.Count == 0 && Unexpected.Count == 0 && Sent == Delivered + DeadLettered;

    /// <summary>Checks the ids sent against every delivery (with repeats) and every dead letter.</summary>
    public static DeliveryCheck Of(IEnumerable<string> sent, IEnumerable<string> deliveries, IEnumerable<string> deadLetters)
    {
        var sentSet = sent.ToHashSet(StringComparer.Ordinal);
        var deliveryList = deliveries.ToList();
        var delivered = deliveryList.ToHashSet(StringComparer.Ordinal);
        var dead = deadLetters.Where(id => !delivered.Contains(id)).ToHashSet(StringComparer.Ordinal);
        var lost = sentSet.Where(id => !delivered.Contains(id) && !dead.Contains(id)).Order(StringComparer.Ordinal).ToList();
        var unexpected = delivered.Concat(dead).Where(id => !sentSet.Contains(id)).Order(StringComparer.Ordinal).ToList();
        return new DeliveryCheck(sentSet.Count, delivered.Count(sentSet.Contains), dead.Count(sentSet.Contains), lost, unexpected, deliveryList.Count - delivered.Count);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"sent {Sent} = delivered {Delivered} + dead-lettered {DeadLettered}; lost {Lost.Count}{Sample(Lost)}, unexpected {Unexpected.Count}{Sample(Unexpected)}, duplicate deliveries {Duplicates}";

    private static string Sample(IReadOnlyList<string> ids) => ids.Count == 0 ? "" : $" ({string.Join(", ", ids.Take(5))}{(ids.Count > 5 ? ", …" : "")})";
}
