using System.Globalization;

namespace Shadowing.TestUtilities.Dapr;

/// <summary>Which real state store component the fake sidecar reproduces.</summary>
public enum FakeStoreMode
{
    /// <summary>components-contrib <c>state.redis</c> v1: what <c>dapr init</c> gives and the README's local run uses.</summary>
    Redis,

    /// <summary>components-contrib <c>state.postgresql</c> v2: real transactions and ETag checks.</summary>
    PostgreSql,
}

/// <summary>How a component call failed, in the terms daprd maps to gRPC codes.</summary>
public enum FakeStoreErrorKind
{
    /// <summary>A <c>state.ETagError</c> of kind mismatch (daprd: <c>Aborted</c>).</summary>
    ETagMismatch,

    /// <summary>A <c>state.ETagError</c> of kind invalid (daprd: <c>InvalidArgument</c>).</summary>
    ETagInvalid,

    /// <summary>Any other error (daprd: <c>Internal</c>).</summary>
    Other,
}

/// <summary>An error returned by a fake component, with the text the real one returns.</summary>
public sealed class FakeStoreException(FakeStoreErrorKind kind, string message) : Exception(message)
{
    /// <summary>How daprd classifies it.</summary>
    public FakeStoreErrorKind Kind { get; } = kind;
}

/// <summary>The concurrency option of a state request (<c>StateOptions.concurrency</c>).</summary>
public enum FakeConcurrency
{
    /// <summary>Not given (the SDK's default).</summary>
    Unspecified,

    /// <summary><c>first-write</c>.</summary>
    FirstWrite,

    /// <summary><c>last-write</c>.</summary>
    LastWrite,
}

/// <summary>One operation of a state transaction.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value to write; null for a delete.</param>
/// <param name="ETag">The ETag sent, if any.</param>
/// <param name="Concurrency">The concurrency option sent.</param>
/// <param name="TtlSeconds">The <c>ttlInSeconds</c> metadata of an upsert, if sent.</param>
public sealed record FakeStateOperation(string Key, byte[]? Value, string? ETag, FakeConcurrency Concurrency, int? TtlSeconds = null);

/// <summary>
/// A state store component as daprd sees it, reproducing what the real component does (not what an ideal store
/// would): the fake sidecar runs the shared state-store suite against each.
/// </summary>
public abstract class FakeStateComponent
{
    /// <summary>Guards every entry; a component call is atomic with respect to others, as one Redis script or SQL statement is.</summary>
    protected Lock Sync { get; } = new();

    /// <summary>Keys currently stored (not expired).</summary>
    public abstract IReadOnlyList<string> Keys { get; }

    /// <summary>The clock that expires keys written with <c>ttlInSeconds</c>; tests set a fake one to see them go.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>
    /// Whether a failed <see cref="Multi"/> leaves nothing applied (PostgreSQL's transaction rolls back); Redis's pipeline
    /// applies every operation but the failing ones.
    /// </summary>
    public abstract bool RollsBackTransactions { get; }

    /// <summary>Creates the component of <paramref name="mode"/>.</summary>
    public static FakeStateComponent Create(FakeStoreMode mode) => mode switch
    {
        FakeStoreMode.Redis => new FakeRedisState(),
        FakeStoreMode.PostgreSql => new FakePostgreSqlState(),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <summary>The value and ETag of a key; null when missing (daprd then answers empty data and an empty ETag).</summary>
    public abstract (byte[] Value, string ETag)? Get(string key);

    /// <summary>A single <c>SaveState</c> item (daprd calls the component's <c>Set</c>), with its <c>ttlInSeconds</c> if sent.</summary>
    /// <exception cref="FakeStoreException">The component refused it.</exception>
    public abstract void Set(string key, byte[] value, string? etag, FakeConcurrency concurrency, int? ttlSeconds = null);

    /// <summary>A <c>DeleteState</c> call.</summary>
    /// <exception cref="FakeStoreException">The component refused it.</exception>
    public abstract void Delete(string key, string? etag, FakeConcurrency concurrency);

    /// <summary>An <c>ExecuteStateTransaction</c> call (the component's <c>Multi</c>).</summary>
    /// <exception cref="FakeStoreException">The component failed it.</exception>
    public abstract void Multi(IReadOnlyList<FakeStateOperation> operations);
}

/// <summary>
/// components-contrib <c>state/redis/redis.go</c> (read at c23900d2, Lua scripts checked on Redis 7.0.15): every key
/// is a hash of <c>data</c>, <c>version</c> and an optional sticky <c>first-write</c> flag. <c>ttlInSeconds</c> is an
/// <c>EXPIRE</c> after the write (0 or less a <c>PERSIST</c>); a write without it leaves the key's expiry as it was, since
/// the script's <c>HSET</c> does not touch it. An expired key is gone, as Redis deletes it.
/// </summary>
public sealed class FakeRedisState : FakeStateComponent
{
    /// <inheritdoc />
    public override bool RollsBackTransactions => false;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override IReadOnlyList<string> Keys
    {
        get
        {
            lock (Sync)
            {
                var now = Time.GetUtcNow();
                return [.. _entries.Where(e => !(e.Value.ExpiresAt <= now)).Select(e => e.Key).Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <inheritdoc />
    public override (byte[] Value, string ETag)? Get(string key)
    {
        // getDefault: HGETALL; the etag is the version field.
        lock (Sync)
        {
            return TryGetLive(key, out var e) ? (e.Data, e.Version.ToString(CultureInfo.InvariantCulture)) : null;
        }
    }

    /// <inheritdoc />
    public override void Set(string key, byte[] value, string? etag, FakeConcurrency concurrency, int? ttlSeconds = null)
    {
        lock (Sync)
        {
            // Set: the script's error is an ETagError only "if req.HasETag()"; otherwise a plain "failed to set key".
            if (!RunSetScript(key, value, ParseETag(etag, concurrency), firstWrite: concurrency == FakeConcurrency.FirstWrite, ttlSeconds))
            {
                var error = ScriptError(key);
                throw HasETag(etag)
                    ? new FakeStoreException(FakeStoreErrorKind.ETagMismatch, "possible etag mismatch. error from state store: " + error)
                    : new FakeStoreException(FakeStoreErrorKind.Other, $"failed to set key {key}: {error}");
            }
        }
    }

    /// <inheritdoc />
    public override void Delete(string key, string? etag, FakeConcurrency concurrency)
    {
        lock (Sync)
        {
            // Delete: "if !req.HasETag() { req.ETag = ptr.Of("0") }", and every error is wrapped as an ETag mismatch.
            if (!RunDeleteScript(key, HasETag(etag) ? etag! : "0"))
            {
                throw new FakeStoreException(FakeStoreErrorKind.ETagMismatch, $"possible etag mismatch. error from state store: ERR user_script:6: failed to delete {key} script: 2446db0de2c963f100727b388f03ead01d18c265, on @user_script:6.");
            }
        }
    }

    /// <inheritdoc />
    public override void Multi(IReadOnlyList<FakeStateOperation> operations)
    {
        // Multi: a MULTI/EXEC pipeline of the same scripts. Redis runs every queued command whatever the others do:
        // no rollback, and operations after a failing one are applied too. go-redis returns the first command's
        // error, raw (not an ETagError). Sets are sent without ARGV[3], so they never set the first-write flag.
        lock (Sync)
        {
            var parsed = operations.Select(o => o.Value is null ? 0 : ParseETag(o.ETag, o.Concurrency)).ToArray(); // ETagInvalid before anything is sent
            string? firstError = null;
            for (var i = 0; i < operations.Count; i++)
            {
                var operation = operations[i];
                var applied = operation.Value is null
                    ? RunDeleteScript(operation.Key, HasETag(operation.ETag) ? operation.ETag! : "0")
                    : RunSetScript(operation.Key, operation.Value, parsed[i], firstWrite: false, operation.TtlSeconds);
                if (!applied && operation.Value is not null && operation.TtlSeconds is { } ttl && TryGetLive(operation.Key, out var kept))
                {
                    // The EXPIRE (or PERSIST) is queued after the script whatever the script did, so it applies to a key the
                    // failed write left as it was.
                    _entries[operation.Key] = kept with { ExpiresAt = ttl > 0 ? Time.GetUtcNow().AddSeconds(ttl) : null };
                }

                if (!applied)
                {
                    firstError ??= operation.Value is null
                        ? $"ERR user_script:6: failed to delete {operation.Key} script: 2446db0de2c963f100727b388f03ead01d18c265, on @user_script:6."
                        : ScriptError(operation.Key);
                }
            }

            if (firstError is not null)
            {
                throw new FakeStoreException(FakeStoreErrorKind.Other, firstError);
            }
        }
    }

    private static bool HasETag(string? etag) => !string.IsNullOrEmpty(etag);

    /// <summary>parseETag: last-write or no ETag sends version 0; a non-numeric ETag is invalid.</summary>
    private static long ParseETag(string? etag, FakeConcurrency concurrency)
    {
        if (concurrency == FakeConcurrency.LastWrite || !HasETag(etag))
        {
            return 0;
        }

        return long.TryParse(etag, NumberStyles.Integer, CultureInfo.InvariantCulture, out var version)
            ? version
            : throw new FakeStoreException(FakeStoreErrorKind.ETagInvalid, $"invalid etag value: strconv.Atoi: parsing \"{etag}\": invalid syntax");
    }

    private static string ScriptError(string key) => $"ERR user_script:14: failed to set key {key} script: d908b9553add63a82e03589b5c6d01a7654ef0f2, on @user_script:14.";

    /// <summary>
    /// setDefaultQuery: writes when the key has no version, the version equals ARGV[1], or the key has no
    /// first-write flag and ARGV[1] is "0"; a first-write call flags the key; the version is HINCRBY'd from 0.
    /// </summary>
    private bool RunSetScript(string key, byte[] value, long version, bool firstWrite, int? ttlSeconds)
    {
        var exists = TryGetLive(key, out var entry);
        if (exists && entry!.Version != version && !(!entry.FirstWrite && version == 0))
        {
            return false;
        }

        // The EXPIRE (or PERSIST) follows the script (Set sends it only when the script wrote).
        var expiresAt = ttlSeconds switch
        {
            > 0 => Time.GetUtcNow().AddSeconds(ttlSeconds.Value),
            not null => null,
            null => exists ? entry!.ExpiresAt : null,
        };
        _entries[key] = new Entry(value, (exists ? entry!.Version : 0) + 1, firstWrite || (exists && entry!.FirstWrite), expiresAt);
        return true;
    }

    /// <summary>The key's entry unless it has expired; an expired one is removed, as Redis does.</summary>
    private bool TryGetLive(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Entry? entry)
    {
        if (_entries.TryGetValue(key, out entry) && entry.ExpiresAt <= Time.GetUtcNow())
        {
            _entries.Remove(key);
            entry = null;
        }

        return entry is not null;
    }

    /// <summary>delDefaultQuery: deletes when the key is missing, the version matches, or ARGV[1] is "0".</summary>
    private bool RunDeleteScript(string key, string etag)
    {
        if (TryGetLive(key, out var entry) && entry.Version.ToString(CultureInfo.InvariantCulture) != etag && etag != "0")
        {
            return false;
        }

        _entries.Remove(key); // DEL removes the whole hash: a re-created key starts again at version 1
        return true;
    }

    private sealed record Entry(byte[] Data, long Version, bool FirstWrite, DateTimeOffset? ExpiresAt);
}

/// <summary>
/// components-contrib <c>state/postgresql/v2/postgresql.go</c> (read at c23900d2): UUID ETags checked by
/// <c>UPDATE … WHERE etag = $3</c>, first-write as an upsert that updates nothing when the row is live, and
/// <c>Multi</c> in one database transaction rolled back on any error. <c>ttlInSeconds</c> sets the row's
/// <c>expires_at</c> and a write without it clears it; a row past it reads and writes as missing (until the periodic
/// cleanup deletes it).
/// </summary>
public sealed class FakePostgreSqlState : FakeStateComponent
{
    /// <inheritdoc />
    public override bool RollsBackTransactions => true;

    private readonly Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)> _entries = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override IReadOnlyList<string> Keys
    {
        get
        {
            lock (Sync)
            {
                var now = Time.GetUtcNow();
                return [.. _entries.Where(e => !(e.Value.ExpiresAt <= now)).Select(e => e.Key).Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <inheritdoc />
    public override (byte[] Value, string ETag)? Get(string key)
    {
        lock (Sync)
        {
            return TryGetLive(_entries, key, Time.GetUtcNow(), out var e) ? (e.Value, e.ETag.ToString()) : null;
        }
    }

    /// <inheritdoc />
    public override void Set(string key, byte[] value, string? etag, FakeConcurrency concurrency, int? ttlSeconds = null)
    {
        lock (Sync)
        {
            var entries = new Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)>(_entries, StringComparer.Ordinal);
            DoSet(entries, key, value, etag, concurrency, ttlSeconds, Time.GetUtcNow());
            Commit(entries);
        }
    }

    /// <inheritdoc />
    public override void Delete(string key, string? etag, FakeConcurrency concurrency)
    {
        lock (Sync)
        {
            var entries = new Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)>(_entries, StringComparer.Ordinal);
            DoDelete(entries, key, etag, Time.GetUtcNow());
            Commit(entries);
        }
    }

    /// <inheritdoc />
    public override void Multi(IReadOnlyList<FakeStateOperation> operations)
    {
        // Multi: pgtransactions.ExecuteInTransaction; any error rolls the whole transaction back.
        lock (Sync)
        {
            var entries = new Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)>(_entries, StringComparer.Ordinal);
            foreach (var operation in operations)
            {
                if (operation.Value is null)
                {
                    DoDelete(entries, operation.Key, operation.ETag, Time.GetUtcNow());
                }
                else
                {
                    DoSet(entries, operation.Key, operation.Value, operation.ETag, operation.Concurrency, operation.TtlSeconds, Time.GetUtcNow());
                }
            }

            Commit(entries);
        }
    }

    /// <summary>doSet: with an ETag, an UPDATE that must hit one row (a missing key is a mismatch); without, an upsert.</summary>
    private static void DoSet(Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)> entries, string key, byte[] value, string? etag, FakeConcurrency concurrency, int? ttlSeconds, DateTimeOffset now)
    {
        var live = TryGetLive(entries, key, now, out var current);
        if (!string.IsNullOrEmpty(etag))
        {
            if (!Guid.TryParse(etag, out var expected) || !live || current.ETag != expected)
            {
                throw new FakeStoreException(FakeStoreErrorKind.ETagMismatch, "possible etag mismatch. error from state store");
            }
        }
        else if (concurrency == FakeConcurrency.FirstWrite && live)
        {
            throw new FakeStoreException(FakeStoreErrorKind.Other, "no item was updated");
        }

        if (value.Length == 0)
        {
            // An empty bytes field is not on the wire (proto3): daprd passes a nil []byte on, pgx writes it as NULL,
            // and the v2 table's value column is NOT NULL.
            throw new FakeStoreException(FakeStoreErrorKind.Other, "ERROR: null value in column \"value\" of relation \"state\" violates not-null constraint (SQLSTATE 23502)");
        }

        entries[key] = (value, Guid.NewGuid(), ttlSeconds > 0 ? now.AddSeconds(ttlSeconds.Value) : null);
    }

    /// <summary>doDelete: with an ETag, a DELETE that must hit one row; without, a missing key is fine.</summary>
    private static void DoDelete(Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)> entries, string key, string? etag, DateTimeOffset now)
    {
        // DELETE … WHERE key = $1 AND etag = $2: a row past its expiry that the cleanup has not deleted yet matches too.
        if (!string.IsNullOrEmpty(etag) && (!Guid.TryParse(etag, out var expected) || !entries.TryGetValue(key, out var current) || current.ETag != expected))
        {
            throw new FakeStoreException(FakeStoreErrorKind.ETagMismatch, "possible etag mismatch. error from state store");
        }

        entries.Remove(key);
    }

    /// <summary>The row unless it is past its <c>expires_at</c> (every query filters on it).</summary>
    private static bool TryGetLive(Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)> entries, string key, DateTimeOffset now, out (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt) entry) =>
        entries.TryGetValue(key, out entry) && !(entry.ExpiresAt <= now);

    private void Commit(Dictionary<string, (byte[] Value, Guid ETag, DateTimeOffset? ExpiresAt)> entries)
    {
        _entries.Clear();
        foreach (var (key, value) in entries)
        {
            _entries[key] = value;
        }
    }
}
