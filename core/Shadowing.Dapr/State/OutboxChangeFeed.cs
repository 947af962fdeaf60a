using System.Globalization;
using Shadowing.Core.Data;
using Shadowing.Core.Messaging;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Dapr.State;

/// <summary>
/// The change feed of the Dapr deployment: the messages the transactional outbox publishes on
/// <c>data-changes.{service}</c> (<see cref="OutboxDataWriter"/>), appended by the subscriber to a log it keeps in the
/// state store, each with the next sequence of its service, which data sync then reads like the embedded store's log.
/// </summary>
/// <remarks>
/// <para><b>Layout</b> (per service, below <c>data-feed/{service}/</c>): <c>head</c> (the last sequence, how far the log
/// was pruned, and the last change itself), <c>log/{sequence}</c> (one change each) and <c>keys/{key}</c> (each key's
/// last change: version, time, kind and value hash, which listing and duplicate detection read).</para>
/// <para><b>Appending</b> does not need a multi-key transaction (Redis has no rollback): the key's record is written
/// first (a prepare), then the head with its ETag, which commits the sequence and carries the change, then the log
/// entry. A crash before the head leaves a prepared key record that no committed entry confirms (ignored; the message
/// is redelivered, since it was not acknowledged); a crash after it leaves the change in the head, which readers use
/// and the next append copies to the log before committing another. Concurrent appenders (several replicas, or Dapr
/// delivering in parallel) race on the head's ETag and retry.</para>
/// <para><b>Duplicates and order.</b> Pub/sub delivers at least once and not always in order. A message equal to its
/// key's last committed change (time, kind, value) is a redelivery and is skipped; one older than it arrived late, after
/// a newer change of the same key, and is skipped too, so a late message never undoes a newer value. What can still
/// happen: a crash between the head and the key record lets a redelivery append the change again (applying it twice has
/// the effect of once). Two changes of one key with the same time (the writer's clock) are kept in arrival order.</para>
/// <para><b>Listing</b> reads every key record (Dapr has no bulk scan: one read per key, so seeding a large data set
/// this way is slow; the continuous sync after it reads only the log).</para>
/// </remarks>
/// <param name="store">Where the head and the key records are kept (listed: seeding lists the key records).</param>
/// <param name="services">The services whose changes this feed receives.</param>
/// <param name="log">
/// Where the log entries are kept: read only by sequence, so with Dapr an adapter that keeps no listing index for them
/// (<see cref="DaprStateStore"/> with <c>listed: false</c>; one index naming every retained change would grow with each
/// one). <paramref name="store"/> when null.
/// </param>
public sealed class OutboxChangeFeed(IStateStore store, IEnumerable<string> services, IStateStore? log = null) : IChangeFeed
{
    /// <summary>Where the feed keeps its log.</summary>
    public const string Prefix = "data-feed/";

    private const int MaxAttempts = 64;
    private readonly string[] _services = [.. services];
    private readonly IStateStore _log = log ?? store;

    /// <summary>The services whose changes this feed receives (one <c>data-changes.{service}</c> subscription each).</summary>
    public IReadOnlyList<string> Services => _services;

    /// <summary>
    /// Appends a change published on <c>data-changes.{service}</c>; returns false when it is a redelivery or arrived after
    /// a newer change of its key (nothing appended). A key outside <c>data/{service}/</c> is refused.
    /// </summary>
    /// <exception cref="UnprocessableMessageException">The message names a key of another service or no key, or an upsert carries no value.</exception>
    public async Task<bool> AppendAsync(string service, DataChangeMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var source = StateKeys.Data(service);
        if (string.IsNullOrEmpty(message.Key) || !message.Key.StartsWith(source, StringComparison.Ordinal) || message.Key.Length == source.Length)
        {
            throw new UnprocessableMessageException($"a change on data-changes.{service} names key '{message.Key}', which is not below '{source}': check the outboxPublishTopic of the data component that wrote it.");
        }

        if (message.Kind == DataChangeKind.Upsert && message.Value is null)
        {
            throw new UnprocessableMessageException($"an upsert of '{message.Key}' on data-changes.{service} carries no value.");
        }

        StateKeys.Validate(message.Key);
        var hash = message.Kind == DataChangeKind.Upsert ? DataHash.Of(message.Value) : 0UL;
        var keyRecord = KeyRecordKey(service, message.Key[source.Length..]);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var (head, headEtag) = await ReadHeadAsync(service, cancellationToken).ConfigureAwait(false);
            await SettleAsync(service, head, cancellationToken).ConfigureAwait(false);
            var last = await store.GetJsonAsync<KeyRecord>(keyRecord, cancellationToken).ConfigureAwait(false);
            if (last is not null
                && await CommittedAsync(service, head, last.Value, message.Key, cancellationToken).ConfigureAwait(false) is { } committed
                && (committed.At > message.At || (committed.At == message.At && committed.Kind == message.Kind && committed.Hash == hash)))
            {
                if (committed != last.Value)
                {
                    // An appender that lost the race for this sequence overwrote the record with its own prepare: put back what was committed.
                    try
                    {
                        await store.SaveJsonAsync(keyRecord, committed, last.ETag, cancellationToken).ConfigureAwait(false);
                    }
                    catch (StateConflictException)
                    {
                        continue;
                    }
                }

                return false;
            }

            var sequence = head.Sequence + 1;
            var entry = new LogEntry(sequence, message.Key, message.Kind, message.At, message.Kind == DataChangeKind.Upsert ? message.Value : null);
            try
            {
                await store.SaveJsonAsync(keyRecord, new KeyRecord(sequence, message.At, message.Kind, hash), last?.ETag, cancellationToken).ConfigureAwait(false);
                var next = head with { Sequence = sequence, Last = entry };
                if (headEtag is null)
                {
                    if (!await store.TryCreateJsonAsync(HeadKey(service), next, cancellationToken).ConfigureAwait(false))
                    {
                        continue;
                    }
                }
                else
                {
                    await store.SaveJsonAsync(HeadKey(service), next, headEtag, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (StateConflictException)
            {
                continue; // another appender got there first: read again
            }

            await _log.SaveJsonAsync(LogKey(service, sequence), entry, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }

        throw new StateConflictException(HeadKey(service));
    }

    /// <inheritdoc />
    public async Task<ChangePage> ReadAsync(string prefix, long after, int max, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var service = ServiceOf(prefix);
        var (head, _) = await ReadHeadAsync(service, cancellationToken).ConfigureAwait(false);
        if (after < head.PrunedThrough)
        {
            return new ChangePage([], head.PrunedThrough, after);
        }

        var changes = new List<DataChange>();
        var through = Math.Max(after, Math.Min(head.Sequence, after + max));
        for (var sequence = after + 1; sequence <= through; sequence++)
        {
            var entry = (await _log.GetJsonAsync<LogEntry>(LogKey(service, sequence), cancellationToken).ConfigureAwait(false))?.Value
                ?? (sequence == head.Sequence ? head.Last : null);
            if (entry is null)
            {
                // Only pruning removes committed entries: it moved past this reader while it read.
                var (now, _) = await ReadHeadAsync(service, cancellationToken).ConfigureAwait(false);
                if (now.PrunedThrough >= sequence)
                {
                    return new ChangePage([], now.PrunedThrough, after);
                }

                throw new StateStoreException(string.Create(CultureInfo.InvariantCulture, $"the change log of '{service}' has no entry {sequence} although its head is at {head.Sequence}; the state store lost a write"));
            }

            if (entry.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                changes.Add(entry.ToChange());
            }
        }

        return new ChangePage(changes, head.PrunedThrough, through);
    }

    /// <inheritdoc />
    public async Task<DataListing> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var service = ServiceOf(prefix);
        // The head first: every change committed up to it prepared its key record before, so the records read next are at
        // least that new; anything newer is replayed from AsOf by the reader (applying it again has no further effect).
        var (head, _) = await ReadHeadAsync(service, cancellationToken).ConfigureAwait(false);
        var records = KeyRecordKey(service, string.Empty);
        var source = StateKeys.Data(service);
        var entries = new List<DataDigest>();
        foreach (var key in await store.ListKeysAsync(records, cancellationToken).ConfigureAwait(false))
        {
            var dataKey = source + key[records.Length..];
            if (dataKey.StartsWith(prefix, StringComparison.Ordinal)
                && await store.GetJsonAsync<KeyRecord>(key, cancellationToken).ConfigureAwait(false) is { Value: { Kind: DataChangeKind.Upsert } record })
            {
                entries.Add(new DataDigest(dataKey, record.Version, record.Hash));
            }
        }

        entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new DataListing(entries, head.Sequence);
    }

    /// <inheritdoc />
    public async Task<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default)
    {
        var pruned = 0;
        foreach (var service in _services)
        {
            var (head, _) = await ReadHeadAsync(service, cancellationToken).ConfigureAwait(false);
            await SettleAsync(service, head, cancellationToken).ConfigureAwait(false);
            var through = head.PrunedThrough;
            var dropped = new List<LogEntry>();

            // The newest entry stays, so the head's change always has its log entry behind it.
            while (through + 1 < head.Sequence
                && await _log.GetJsonAsync<LogEntry>(LogKey(service, through + 1), cancellationToken).ConfigureAwait(false) is { } entry
                && entry.Value.At < before)
            {
                dropped.Add(entry.Value);
                through++;
            }

            if (dropped.Count == 0)
            {
                continue;
            }

            // Readers learn of the pruning before entries go, so none reads a gap as a lost write.
            await store.UpdateJsonAsync<FeedHead>(HeadKey(service), h => (h ?? head) with { PrunedThrough = Math.Max(h?.PrunedThrough ?? 0, through) }, MaxAttempts, cancellationToken).ConfigureAwait(false);
            foreach (var entry in dropped)
            {
                await _log.DeleteAsync(LogKey(service, entry.Sequence), etag: null, cancellationToken).ConfigureAwait(false);
            }

            pruned += dropped.Count;
        }

        return pruned;
    }

    private static string HeadKey(string service) => $"{Prefix}{service}/head";

    private static string LogKey(string service, long sequence) => string.Create(CultureInfo.InvariantCulture, $"{Prefix}{service}/log/{sequence:D19}");

    private static string KeyRecordKey(string service, string relative) => $"{Prefix}{service}/keys/{relative}";

    private static string ServiceOf(string prefix)
    {
        StateKeys.ValidatePrefix(prefix);
        var slash = prefix.IndexOf('/', StateKeys.DataPrefix.Length);
        if (!prefix.StartsWith(StateKeys.DataPrefix, StringComparison.Ordinal) || slash <= StateKeys.DataPrefix.Length)
        {
            throw new ArgumentException($"'{prefix}' is not below a service's data ('{StateKeys.DataPrefix}{{service}}/'): the outbox feed is kept per service.", nameof(prefix));
        }

        return prefix[StateKeys.DataPrefix.Length..slash];
    }

    private async Task<(FeedHead Head, string? ETag)> ReadHeadAsync(string service, CancellationToken cancellationToken)
    {
        var head = await store.GetJsonAsync<FeedHead>(HeadKey(service), cancellationToken).ConfigureAwait(false);
        return head is null ? (new FeedHead(0, 0), null) : (head.Value, head.ETag);
    }

    /// <summary>Writes the head's change to the log if the appender that committed it stopped before doing so.</summary>
    private async Task SettleAsync(string service, FeedHead head, CancellationToken cancellationToken)
    {
        if (head.Last is { } last && await _log.GetAsync(LogKey(service, last.Sequence), cancellationToken).ConfigureAwait(false) is null)
        {
            await _log.SaveJsonAsync(LogKey(service, last.Sequence), last, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The committed change a key record points at (its version's log entry, when that is a change of this key), or null when
    /// the record is a prepare that was never committed (an appender that lost the race or died). Records older than the
    /// log are trusted.
    /// </summary>
    private async Task<KeyRecord?> CommittedAsync(string service, FeedHead head, KeyRecord record, string key, CancellationToken cancellationToken)
    {
        if (record.Version > head.Sequence)
        {
            return null;
        }

        if (record.Version <= head.PrunedThrough)
        {
            return record;
        }

        var entry = record.Version == head.Sequence ? head.Last : (await _log.GetJsonAsync<LogEntry>(LogKey(service, record.Version), cancellationToken).ConfigureAwait(false))?.Value;
        return entry is not null && entry.Key == key
            ? new KeyRecord(record.Version, entry.At, entry.Kind, entry.Kind == DataChangeKind.Upsert ? DataHash.Of(entry.Value) : 0UL)
            : null;
    }

    private sealed record FeedHead(long Sequence, long PrunedThrough, LogEntry? Last = null);

    private sealed record KeyRecord(long Version, DateTimeOffset At, DataChangeKind Kind, ulong Hash);

    private sealed record LogEntry(long Sequence, string Key, DataChangeKind Kind, DateTimeOffset At, byte[]? Value = null)
    {
        public DataChange ToChange() => new(Sequence, Key, Kind, Value ?? [], At);
    }
}
