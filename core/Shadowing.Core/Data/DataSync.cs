using System.Globalization;
using System.Text;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Core.Data;

/// <summary>
/// Where a shadow's data sync stands, at <see cref="StateKeys.ShadowSync"/> in the shadow's store, written once the data
/// it covers is: after a crash the sync resumes at or before where the data stands (a page may be applied again).
/// </summary>
public sealed record SyncWatermark
{
    /// <summary>The last production change applied (after seeding, the sequence the listing was consistent at).</summary>
    public required long Sequence { get; init; }

    /// <summary>Changes applied from the feed since seeding.</summary>
    public required long Applied { get; init; }

    /// <summary>Bytes shipped from production since seeding began, seeding included.</summary>
    public required long ShippedBytes { get; init; }

    /// <summary>When the sync last ran.</summary>
    public required DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When the oldest production change the shadow does not have yet was made; null when it has them all.</summary>
    public DateTimeOffset? Behind { get; init; }

    /// <summary>What shaped the copy (the caller's settings: mode, shift, masking); a run with other settings seeds again.</summary>
    public string? Settings { get; init; }

    /// <summary>How far behind production the shadow's data is at <paramref name="now"/>: zero when it has every change.</summary>
    public TimeSpan LagAt(DateTimeOffset now) => Behind is { } behind && now > behind ? now - behind : TimeSpan.Zero;
}

/// <summary>What one sync run did.</summary>
/// <param name="Sequence">The watermark after the run.</param>
/// <param name="Seeded">Whether the run seeded (no watermark, or the change log no longer reached back to it).</param>
/// <param name="Copied">Records copied while seeding.</param>
/// <param name="Deleted">Shadow records deleted while seeding (absent in production).</param>
/// <param name="Applied">Changes applied from the feed.</param>
/// <param name="ShippedBytes">Bytes shipped from production in this run (requests, digests, records).</param>
/// <param name="Lag">How far behind production the shadow's data is now.</param>
/// <param name="Behind">When the oldest change the shadow does not have yet was made (null when it has them all): the lag grows from it until the next run.</param>
public sealed record SyncProgress(long Sequence, bool Seeded, int Copied, int Deleted, int Applied, long ShippedBytes, TimeSpan Lag, DateTimeOffset? Behind = null);

/// <summary>A data sync that cannot go on, with why (for example the change log was pruned past what a time shift needs).</summary>
public sealed class DataSyncException(string message) : Exception(message);

/// <summary>
/// Gives a shadow its own copy of a service's production data (<c>data/{service}/…</c> → <c>shadow-data/{service}/{shadow}/…</c>)
/// and keeps it current from the change feed.
/// <list type="bullet">
/// <item><b>Differential seeding</b> when the shadow has no watermark, or the log was pruned past it: production lists each
/// key's version and value hash, and only keys whose hash differs from the shadow's copy are shipped; shadow keys
/// production no longer has are deleted.</item>
/// <item><b>Continuous</b>: changes after the watermark, a page at a time, each page applied in one transaction and then the
/// new watermark, so a sync killed anywhere resumes at or before what it applied: a page may be applied again, which
/// changes nothing (the same values in the same order), and no change is missed.</item>
/// <item><b>Time-shifted</b> (<c>shift</c> &gt; 0): only changes made at least <c>shift</c> ago are applied, so the shadow
/// trails production by the shift; it replays the log from its start (current values are younger than the shift) and
/// refuses when the log no longer reaches back that far.</item>
/// <item>An optional <c>transform</c> (masking) rewrites every value copied; such a copy seeds by copying every value, since
/// its values differ from production's by design.</item>
/// </list>
/// </summary>
/// <remarks><c>settings</c> names what shapes the copy besides the shift (for example the masking): a copy made under other settings is seeded again.</remarks>
public sealed class DataSync(IChangeFeed feed, IStateStore production, IStateStore shadow, TimeProvider time, int pageSize = 500, Func<ReadOnlyMemory<byte>, ReadOnlyMemory<byte>>? transform = null, string? settings = null)
{
    /// <summary>Bytes of a request to production besides its prefix: the sequence and page size asked for.</summary>
    private const int RequestOverhead = sizeof(long) + sizeof(int);

    /// <summary>Seeds if needed (also when the copy was made with another shift or settings), then applies every change old enough; returns what it did.</summary>
    public async Task<SyncProgress> RunAsync(string service, string shadowId, TimeSpan shift, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shift, TimeSpan.Zero);
        var source = StateKeys.Data(service);
        var target = StateKeys.ShadowData(service, shadowId);
        var markKey = StateKeys.ShadowSync(service, shadowId);
        var mark = (await shadow.GetJsonAsync<SyncWatermark>(markKey, cancellationToken).ConfigureAwait(false))?.Value;
        var shape = string.Create(CultureInfo.InvariantCulture, $"shift={shift.Ticks};{settings}");
        if (mark is not null && mark.Settings is not null && mark.Settings != shape)
        {
            mark = null; // made under other settings: its values (masking) or its position (shift) do not hold
        }
        else if (mark is not null && mark.Settings is null)
        {
            // Written before settings were recorded: assumed to match, recorded from now on; unless the copy is to be masked,
            // when what that older version wrote may be production's own values (masking turned on since): seeded again.
            mark = transform is null ? mark with { Settings = shape } : null;
        }

        long shipped = RequestSize(source);
        var page = await feed.ReadAsync(source, mark?.Sequence ?? 0, pageSize, cancellationToken).ConfigureAwait(false);
        shipped += page.Changes.Sum(c => (long)c.WireSize);
        int copied = 0, deleted = 0, applied = 0;
        var seeded = false;
        if (mark is null || mark.Sequence < page.PrunedThrough)
        {
            seeded = true;
            if (shift > TimeSpan.Zero)
            {
                if (page.PrunedThrough > 0)
                {
                    throw new DataSyncException(string.Create(CultureInfo.InvariantCulture, $"time-shifted sync of '{service}' replays the change log from its start, but changes up to sequence {page.PrunedThrough} were pruned; use differential sync, or keep the log longer"));
                }

                deleted = await ClearAsync(shadow, target, pageSize, cancellationToken).ConfigureAwait(false);
                mark = new SyncWatermark { Sequence = 0, Applied = 0, ShippedBytes = shipped, UpdatedAt = time.GetUtcNow(), Settings = shape };
                await shadow.SaveJsonAsync(markKey, mark, cancellationToken: cancellationToken).ConfigureAwait(false); // seeded: not cleared again next run
                if (page.Changes.Count > 0 && page.Changes[0].Sequence <= 0)
                {
                    throw new DataSyncException("the change feed returned a change at sequence 0 or before");
                }
            }
            else
            {
                (copied, deleted, var asOf, var seedBytes) = await SeedAsync(source, target, cancellationToken).ConfigureAwait(false);
                shipped += seedBytes;
                mark = new SyncWatermark { Sequence = asOf, Applied = 0, ShippedBytes = shipped, UpdatedAt = time.GetUtcNow(), Settings = shape };
                await shadow.SaveJsonAsync(markKey, mark, cancellationToken: cancellationToken).ConfigureAwait(false);
                shipped += RequestSize(source);
                page = await feed.ReadAsync(source, asOf, pageSize, cancellationToken).ConfigureAwait(false);
                shipped += page.Changes.Sum(c => (long)c.WireSize);
            }
        }
        else
        {
            mark = mark with { ShippedBytes = mark.ShippedBytes + shipped };
        }

        // Without a shift every change is due: one stamped by a writer whose clock runs ahead is not held back.
        var cutoff = shift > TimeSpan.Zero ? time.GetUtcNow() - shift : DateTimeOffset.MaxValue;
        while (true)
        {
            if (page.PrunedThrough > mark.Sequence)
            {
                throw new DataSyncException(string.Create(CultureInfo.InvariantCulture, $"the change log of '{service}' was pruned past the shadow's watermark {mark.Sequence} while it caught up; the next run seeds again"));
            }

            // Changes come in sequence order: stop at the first one younger than the shift, never skipping ahead of it.
            var ready = page.Changes.TakeWhile(c => c.At <= cutoff).ToList();
            var behind = ready.Count < page.Changes.Count ? page.Changes[ready.Count].At : (DateTimeOffset?)null;
            var more = ready.Count == page.Changes.Count && page.Changes.Count >= pageSize;
            var all = ready.Count == page.Changes.Count;
            var sequence = all ? Math.Max(mark.Sequence, page.Through) : ready.Count > 0 ? ready[^1].Sequence : mark.Sequence;
            if (ready.Count > 0 || mark.Behind != behind || sequence != mark.Sequence)
            {
                var operations = new List<StateOperation>(ready.Count + 1);
                foreach (var change in ready)
                {
                    var key = target + change.Key[source.Length..];
                    operations.Add(change.Kind == DataChangeKind.Upsert ? StateOperation.Upsert(key, Transform(change.Value)) : StateOperation.Delete(key));
                }

                mark = mark with
                {
                    Sequence = sequence,
                    Applied = mark.Applied + ready.Count,
                    UpdatedAt = time.GetUtcNow(),
                    Behind = more ? mark.Behind : behind,
                };
                // The watermark is written once the page is: not in the page's transaction, because a transaction is
                // all-or-nothing only on some stores (Redis runs every operation but a failing one, so a watermark in it
                // would pass a change that was never applied, for good). A crash between the two replays the page.
                await TransactBoundedAsync(shadow, operations, cancellationToken).ConfigureAwait(false);

                await shadow.SaveJsonAsync(markKey, mark, cancellationToken: cancellationToken).ConfigureAwait(false);
                applied += ready.Count;
            }

            if (!more)
            {
                break;
            }

            shipped += RequestSize(source);
            page = await feed.ReadAsync(source, mark.Sequence, pageSize, cancellationToken).ConfigureAwait(false);
            var bytes = page.Changes.Sum(c => (long)c.WireSize);
            shipped += bytes;
            mark = mark with { ShippedBytes = mark.ShippedBytes + RequestSize(source) + bytes };
        }

        return new SyncProgress(mark.Sequence, seeded, copied, deleted, applied, shipped, mark.LagAt(time.GetUtcNow()), mark.Behind);
    }

    /// <summary>Deletes a shadow's copy and its watermark (when it retires); returns how many records were deleted. Safe to repeat.</summary>
    public static async Task<int> DeleteCopyAsync(IStateStore shadow, string service, string shadowId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shadow);
        var deleted = await ClearAsync(shadow, StateKeys.ShadowData(service, shadowId), 500, cancellationToken).ConfigureAwait(false);
        await shadow.DeleteAsync(StateKeys.ShadowSync(service, shadowId), etag: null, cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    private ReadOnlyMemory<byte> Transform(ReadOnlyMemory<byte> value) => transform is null ? value : transform(value);

    private static long RequestSize(string prefix) => Encoding.UTF8.GetByteCount(prefix) + RequestOverhead;

    /// <summary>Differential seeding: compares production's digests with the shadow's copy, ships only what differs.</summary>
    private async Task<(int Copied, int Deleted, long AsOf, long Shipped)> SeedAsync(string source, string target, CancellationToken cancellationToken)
    {
        var listing = await feed.ListAsync(source, cancellationToken).ConfigureAwait(false);
        var shipped = RequestSize(source) + listing.Entries.Sum(e => (long)e.WireSize);
        var wanted = listing.Entries.ToDictionary(e => e.Key[source.Length..], StringComparer.Ordinal);
        var operations = new List<StateOperation>();
        int copied = 0, deleted = 0;
        foreach (var key in await shadow.ListKeysAsync(target, cancellationToken).ConfigureAwait(false))
        {
            var relative = key[target.Length..];
            if (!wanted.TryGetValue(relative, out var digest))
            {
                operations.Add(StateOperation.Delete(key));
                deleted++;
            }
            else if (transform is null && await shadow.GetAsync(key, cancellationToken).ConfigureAwait(false) is { } mine && DataHash.Of(mine.Value.Span) == digest.Hash)
            {
                wanted.Remove(relative); // the shadow has this value already: nothing to ship
            }

            await FlushAsync(operations, pageSize, cancellationToken).ConfigureAwait(false);
        }

        foreach (var (relative, digest) in wanted.OrderBy(w => w.Key, StringComparer.Ordinal))
        {
            // Read now, so possibly newer than the listing: the feed from the listing's sequence replays what followed.
            if (await production.GetAsync(digest.Key, cancellationToken).ConfigureAwait(false) is { } item)
            {
                operations.Add(StateOperation.Upsert(target + relative, Transform(item.Value)));
                shipped += Encoding.UTF8.GetByteCount(digest.Key) + item.Value.Length + DataChange.Overhead;
                copied++;
            }

            await FlushAsync(operations, pageSize, cancellationToken).ConfigureAwait(false);
        }

        await FlushAsync(operations, 1, cancellationToken).ConfigureAwait(false);
        return (copied, deleted, listing.AsOf, shipped);
    }

    private static async Task<int> ClearAsync(IStateStore store, string prefix, int batch, CancellationToken cancellationToken)
    {
        var keys = await store.ListKeysAsync(prefix, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < keys.Count; i += batch)
        {
            await store.TransactAsync([.. keys.Skip(i).Take(batch).Select(k => StateOperation.Delete(k))], cancellationToken).ConfigureAwait(false);
        }

        return keys.Count;
    }

    private async Task FlushAsync(List<StateOperation> operations, int atLeast, CancellationToken cancellationToken)
    {
        if (operations.Count >= atLeast && operations.Count > 0)
        {
            await TransactBoundedAsync(shadow, operations, cancellationToken).ConfigureAwait(false);
            operations.Clear();
        }
    }

    /// <summary>
    /// The most one transaction carries (keys and values): daprd refuses a request over 4 MiB (its gRPC and HTTP
    /// defaults), so a page of 500 records of 8 KiB failed every time and the sync replayed it forever.
    /// </summary>
    public const int MaxTransactionBytes = 3 * 1024 * 1024;

    /// <summary>
    /// Applies <paramref name="operations"/> in order, in transactions of at most <see cref="MaxTransactionBytes"/> (one
    /// larger operation alone). Callers treat a page as applied only once every part is, as they already must where a
    /// transaction is not all-or-nothing (Redis): a part that failed replays the page, which changes nothing it applied.
    /// </summary>
    public static async Task TransactBoundedAsync(IStateStore store, IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(operations);
        var start = 0;
        long bytes = 0;
        for (var i = 0; i < operations.Count; i++)
        {
            var size = Encoding.UTF8.GetByteCount(operations[i].Key) + (operations[i] is UpsertOperation upsert ? upsert.Value.Length : 0);
            if (i > start && bytes + size > MaxTransactionBytes)
            {
                await store.TransactAsync([.. operations.Skip(start).Take(i - start)], cancellationToken).ConfigureAwait(false);
                (start, bytes) = (i, 0);
            }

            bytes += size;
        }

        if (operations.Count > start)
        {
            await store.TransactAsync(start == 0 ? operations : [.. operations.Skip(start)], cancellationToken).ConfigureAwait(false);
        }
    }
}
