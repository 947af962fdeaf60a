using System.Text;

namespace Shadowing.Core.Data;

/// <summary>What a change did to a key.</summary>
public enum DataChangeKind
{
    /// <summary>The key was created or overwritten.</summary>
    Upsert,

    /// <summary>The key was deleted (a tombstone: its value is empty).</summary>
    Delete,
}

/// <summary>
/// One change to production data, as the change feed delivers it. <see cref="Sequence"/> orders every change of a store;
/// a record's version is the sequence of its last change.
/// </summary>
/// <param name="Sequence">Position in the store's change order; also the record's version after this change.</param>
/// <param name="Key">The state key.</param>
/// <param name="Kind">Upsert or delete.</param>
/// <param name="Value">The new value (empty for a delete).</param>
/// <param name="At">When the change was made (the store's clock).</param>
public sealed record DataChange(long Sequence, string Key, DataChangeKind Kind, ReadOnlyMemory<byte> Value, DateTimeOffset At)
{
    /// <summary>Bytes of a change on the wire besides its key and value: sequence, kind and time.</summary>
    public const int Overhead = sizeof(long) + 1 + sizeof(long);

    /// <summary>What shipping this change costs: its key (UTF-8), its value and <see cref="Overhead"/>.</summary>
    public int WireSize => Encoding.UTF8.GetByteCount(Key) + Value.Length + Overhead;
}

/// <summary>A page of the change feed.</summary>
/// <param name="Changes">Changes after the requested sequence, oldest first.</param>
/// <param name="PrunedThrough">Changes up to this sequence are no longer kept: a reader whose watermark is older has missed some and must seed again.</param>
/// <param name="Through">
/// Every change to the prefix up to this sequence is in the page (or before the requested one): a reader that applied the
/// whole page may move its watermark here, so a quiet prefix's watermark keeps up with the store's and pruning changes
/// of other prefixes does not make its copy seed again. At least the last change's sequence.
/// </param>
public sealed record ChangePage(IReadOnlyList<DataChange> Changes, long PrunedThrough, long Through);

/// <summary>A key's version and a hash of its value: what a seeding comparison exchanges instead of the value.</summary>
/// <param name="Key">The state key.</param>
/// <param name="Version">The sequence of the key's last change.</param>
/// <param name="Hash">A 64-bit hash of the value (<see cref="DataHash"/>).</param>
public sealed record DataDigest(string Key, long Version, ulong Hash)
{
    /// <summary>What shipping this digest costs: its key (UTF-8), the version and the hash.</summary>
    public int WireSize => Encoding.UTF8.GetByteCount(Key) + sizeof(long) + sizeof(ulong);
}

/// <summary>Every key below a prefix with its version and hash, consistent at sequence <paramref name="AsOf"/>.</summary>
/// <param name="Entries">The keys, in ordinal order.</param>
/// <param name="AsOf">The store's sequence when the listing was taken: changes after it are not in it.</param>
public sealed record DataListing(IReadOnlyList<DataDigest> Entries, long AsOf);

/// <summary>
/// Production data changes as an ordered feed (the port data sync reads). The embedded store records each write below
/// <see cref="State.StateKeys.DataPrefix"/> with its sequence in the same transaction; with Dapr, the transactional outbox
/// publishes them on <c>data-changes.{service}</c>.
/// </summary>
public interface IChangeFeed
{
    /// <summary>Up to <paramref name="max"/> changes to keys below <paramref name="prefix"/> with a sequence after <paramref name="after"/>, oldest first.</summary>
    Task<ChangePage> ReadAsync(string prefix, long after, int max, CancellationToken cancellationToken = default);

    /// <summary>Every key below <paramref name="prefix"/> with its version and the hash of its value, consistent at one sequence.</summary>
    Task<DataListing> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Drops changes made before <paramref name="before"/> (readers further behind seed again); returns how many.</summary>
    Task<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default);
}

/// <summary>
/// A change as a message on <c>data-changes.{service}</c> (the transactional outbox's payload, shaped by a projection):
/// the consumer orders them by arrival; a delete arrives as a tombstone, since the outbox publishes upserts only.
/// </summary>
/// <param name="Key">The state key changed.</param>
/// <param name="Kind">Upsert or delete.</param>
/// <param name="At">When the writer made the change.</param>
/// <param name="Value">The new value (null for a delete).</param>
public sealed record DataChangeMessage(string Key, DataChangeKind Kind, DateTimeOffset At, byte[]? Value = null);
