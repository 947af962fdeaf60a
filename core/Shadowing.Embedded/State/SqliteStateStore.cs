using System.Globalization;
using Microsoft.Data.Sqlite;
using Shadowing.Core.Data;
using Shadowing.Core.State;

namespace Shadowing.Embedded.State;

/// <summary>
/// <see cref="IStateStore"/> on SQLite with Dapr's semantics: a new ETag on every write (a global sequence,
/// so a deleted and re-created key never reuses an old ETag), conflicts on stale ETags, atomic transactions.
/// </summary>
/// <remarks>
/// One connection guarded by a semaphore: SQLite serialises writers anyway, and a single connection is what
/// makes an in-memory database (<c>:memory:</c>) work. File databases use WAL so other processes can read.
/// It is also the embedded change feed: every write below <see cref="StateKeys.DataPrefix"/> is recorded in the table
/// <c>changes</c> in the same transaction, with the write's ETag (the global sequence) as its sequence and a tombstone for
/// each delete; <see cref="PruneAsync"/> drops old ones.
/// </remarks>
public sealed class SqliteStateStore : IStateStore, IChangeFeed, IDisposable
{
    /// <summary>The path that selects a private in-memory database.</summary>
    public const string InMemory = ":memory:";

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time;
    private bool _disposed;

    /// <summary>Opens (creating if needed) the database at <paramref name="path"/>, or an in-memory one for <see cref="InMemory"/>.</summary>
    public SqliteStateStore(string path, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        if (path != InMemory && Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            try
            {
                Directory.CreateDirectory(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new StateStoreException($"Could not create the directory of the SQLite state store at '{path}': {ex.Message}", ex);
            }
        }

        var builder = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 };
        _connection = new SqliteConnection(builder.ToString());
        try
        {
            _connection.Open();
            Execute(path == InMemory ? string.Empty : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
            Execute("""
                PRAGMA busy_timeout = 5000;
                CREATE TABLE IF NOT EXISTS state (
                    key        TEXT PRIMARY KEY NOT NULL,
                    value      BLOB NOT NULL,
                    etag       INTEGER NOT NULL,
                    updated_at TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS etag_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
                INSERT OR IGNORE INTO etag_sequence (id, value) VALUES (1, 0);
                CREATE TABLE IF NOT EXISTS changes (
                    seq   INTEGER PRIMARY KEY NOT NULL,
                    key   TEXT NOT NULL,
                    kind  INTEGER NOT NULL,
                    value BLOB,
                    at    TEXT NOT NULL
                );
                -- Pruning finds the last change older than the retention through it (PruneAsync).
                CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
                CREATE TABLE IF NOT EXISTS changes_pruned (id INTEGER PRIMARY KEY CHECK (id = 1), through INTEGER NOT NULL);
                INSERT OR IGNORE INTO changes_pruned (id, through) VALUES (1, 0);
                """);
        }
        catch (SqliteException ex)
        {
            _connection.Dispose();
            throw new StateStoreException($"Could not open the SQLite state store at '{path}': {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public async Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return await RunAsync(() =>
        {
            using var command = Command("SELECT value, etag FROM state WHERE key = $key", null, ("$key", key));
            using var reader = command.ExecuteReader();
            return reader.Read()
                ? new StateItem(key, (byte[])reader.GetValue(0), reader.GetInt64(1).ToString(CultureInfo.InvariantCulture))
                : null;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return TransactAsync([StateOperation.Upsert(key, value, etag)], cancellationToken);
    }

    /// <inheritdoc />
    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return await RunAsync(() =>
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            using var exists = Command("SELECT 1 FROM state WHERE key = $key", transaction, ("$key", key));
            if (exists.ExecuteScalar() is not null)
            {
                transaction.Rollback();
                return false;
            }

            using var next = Command("UPDATE etag_sequence SET value = value + 1 WHERE id = 1 RETURNING value", transaction: transaction);
            var etag = (long)next.ExecuteScalar()!;
            var now = _time.GetUtcNow();
            using var insert = Command(
                "INSERT INTO state (key, value, etag, updated_at) VALUES ($key, $value, $etag, $now) ON CONFLICT (key) DO NOTHING",
                transaction,
                ("$key", key),
                ("$value", value.ToArray()),
                ("$etag", etag),
                ("$now", now.ToString("O", CultureInfo.InvariantCulture)));
            var created = insert.ExecuteNonQuery() == 1;
            if (created)
            {
                LogChange(transaction, etag, key, DataChangeKind.Upsert, value, now);
            }

            transaction.Commit();
            return created;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string key, string? etag, CancellationToken cancellationToken = default)
    {
        StateKeys.Validate(key);
        return TransactAsync([StateOperation.Delete(key, etag)], cancellationToken);
    }

    /// <inheritdoc />
    public async Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count == 0)
        {
            throw new ArgumentException("A transaction needs at least one operation.", nameof(operations));
        }

        foreach (var operation in operations)
        {
            ArgumentNullException.ThrowIfNull(operation, nameof(operations));
            StateKeys.Validate(operation.Key, nameof(operations));
        }

        await RunAsync(() =>
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            var at = _time.GetUtcNow();
            var now = at.ToString("O", CultureInfo.InvariantCulture);
            foreach (var operation in operations)
            {
                if (operation.ETag is { } expected && !ETagMatches(operation.Key, expected, transaction))
                {
                    transaction.Rollback();
                    throw new StateConflictException(operation.Key);
                }

                switch (operation)
                {
                    case UpsertOperation upsert:
                        using (var next = Command("UPDATE etag_sequence SET value = value + 1 WHERE id = 1 RETURNING value", transaction: transaction))
                        {
                            var etag = (long)next.ExecuteScalar()!;
                            using var write = Command(
                                """
                                INSERT INTO state (key, value, etag, updated_at) VALUES ($key, $value, $etag, $now)
                                ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, updated_at = excluded.updated_at
                                """,
                                transaction,
                                ("$key", upsert.Key),
                                ("$value", upsert.Value.ToArray()),
                                ("$etag", etag),
                                ("$now", now));
                            write.ExecuteNonQuery();
                            LogChange(transaction, etag, upsert.Key, DataChangeKind.Upsert, upsert.Value, at);
                        }

                        break;
                    case DeleteOperation:
                        using (var delete = Command("DELETE FROM state WHERE key = $key", transaction, ("$key", operation.Key)))
                        {
                            if (delete.ExecuteNonQuery() == 1 && IsLogged(operation.Key))
                            {
                                using var next = Command("UPDATE etag_sequence SET value = value + 1 WHERE id = 1 RETURNING value", transaction: transaction);
                                LogChange(transaction, (long)next.ExecuteScalar()!, operation.Key, DataChangeKind.Delete, ReadOnlyMemory<byte>.Empty, at);
                            }
                        }

                        break;
                    default:
                        throw new ArgumentException($"Unknown state operation {operation.GetType().Name}.", nameof(operations));
                }
            }

            transaction.Commit();
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
    {
        StateKeys.ValidatePrefix(prefix);

        // A range scan on the primary key: every key >= prefix and < prefix with its last character bumped.
        var upper = prefix[..^1] + (char)(prefix[^1] + 1);
        return await RunAsync<IReadOnlyList<string>>(() =>
        {
            using var command = Command("SELECT key FROM state WHERE key >= $lower AND key < $upper ORDER BY key", null, ("$lower", prefix), ("$upper", upper));
            using var reader = command.ExecuteReader();
            var keys = new List<string>();
            while (reader.Read())
            {
                keys.Add(reader.GetString(0));
            }

            return keys;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ChangePage> ReadAsync(string prefix, long after, int max, CancellationToken cancellationToken = default)
    {
        ValidateDataPrefix(prefix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        var upper = prefix[..^1] + (char)(prefix[^1] + 1);
        return await RunAsync(() =>
        {
            using var transaction = _connection.BeginTransaction(deferred: true); // the page and the pruning mark agree
            using var pruned = Command("SELECT through FROM changes_pruned WHERE id = 1", transaction);
            var through = (long)pruned.ExecuteScalar()!;
            using var command = Command(
                "SELECT seq, key, kind, value, at FROM changes WHERE seq > $after AND key >= $lower AND key < $upper ORDER BY seq LIMIT $max",
                transaction,
                ("$after", after),
                ("$lower", prefix),
                ("$upper", upper),
                ("$max", max));
            using var reader = command.ExecuteReader();
            var changes = new List<DataChange>();
            while (reader.Read())
            {
                changes.Add(new DataChange(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    (DataChangeKind)reader.GetInt32(2),
                    reader.IsDBNull(3) ? ReadOnlyMemory<byte>.Empty : (byte[])reader.GetValue(3),
                    DateTimeOffset.Parse(reader.GetString(4), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)));
            }

            // A partial page holds every change of the prefix up to the store's sequence (writes commit in sequence order).
            long covered;
            if (changes.Count < max)
            {
                using var sequence = Command("SELECT value FROM etag_sequence WHERE id = 1", transaction);
                covered = Math.Max(after, (long)sequence.ExecuteScalar()!);
            }
            else
            {
                covered = changes[^1].Sequence;
            }

            return new ChangePage(changes, through, covered);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<DataListing> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ValidateDataPrefix(prefix);
        var upper = prefix[..^1] + (char)(prefix[^1] + 1);
        return await RunAsync(() =>
        {
            using var transaction = _connection.BeginTransaction(deferred: true); // the listing and its sequence agree
            using var sequence = Command("SELECT value FROM etag_sequence WHERE id = 1", transaction);
            var asOf = (long)sequence.ExecuteScalar()!;
            using var command = Command("SELECT key, value, etag FROM state WHERE key >= $lower AND key < $upper ORDER BY key", transaction, ("$lower", prefix), ("$upper", upper));
            using var reader = command.ExecuteReader();
            var entries = new List<DataDigest>();
            while (reader.Read())
            {
                entries.Add(new DataDigest(reader.GetString(0), reader.GetInt64(2), DataHash.Of((byte[])reader.GetValue(1))));
            }

            return new DataListing(entries, asOf);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The last change older than <c>$cutoff</c>, which pruning removes the log through.</summary>
    internal const string PruneCutoffQuery = "SELECT MAX(seq) FROM changes INDEXED BY changes_at WHERE at < $cutoff";

    /// <inheritdoc />
    public async Task<int> PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default) =>
        await RunAsync(() =>
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            var cutoff = before.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
            // Through the index: left to itself SQLite walks the log from its newest change down to the cutoff, reading
            // every change younger than the retention (values and all) under the write lock.
            using var last = Command(PruneCutoffQuery, transaction, ("$cutoff", cutoff));
            if (last.ExecuteScalar() is not long through)
            {
                return 0;
            }

            using var delete = Command("DELETE FROM changes WHERE seq <= $through", transaction, ("$through", through));
            var dropped = delete.ExecuteNonQuery();
            using var mark = Command("UPDATE changes_pruned SET through = MAX(through, $through) WHERE id = 1", transaction, ("$through", through));
            mark.ExecuteNonQuery();
            transaction.Commit();
            return dropped;
        }, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _gate.Wait();
        try
        {
            _connection.Dispose();
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
        }
    }

    private static bool IsLogged(string key) => key.StartsWith(StateKeys.DataPrefix, StringComparison.Ordinal);

    private static void ValidateDataPrefix(string prefix)
    {
        StateKeys.ValidatePrefix(prefix);
        if (!IsLogged(prefix))
        {
            throw new ArgumentException($"Only changes below '{StateKeys.DataPrefix}' are recorded; '{prefix}' is not below it.", nameof(prefix));
        }
    }

    private void LogChange(SqliteTransaction transaction, long sequence, string key, DataChangeKind kind, ReadOnlyMemory<byte> value, DateTimeOffset at)
    {
        if (!IsLogged(key))
        {
            return;
        }

        using var insert = Command(
            "INSERT INTO changes (seq, key, kind, value, at) VALUES ($seq, $key, $kind, $value, $at)",
            transaction,
            ("$seq", sequence),
            ("$key", key),
            ("$kind", (int)kind),
            ("$value", kind == DataChangeKind.Delete ? DBNull.Value : value.ToArray()),
            ("$at", at.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)));
        insert.ExecuteNonQuery();
    }

    private bool ETagMatches(string key, string expected, SqliteTransaction transaction)
    {
        using var command = Command("SELECT etag FROM state WHERE key = $key", transaction, ("$key", key));
        var current = command.ExecuteScalar();
        return current is long etag && etag.ToString(CultureInfo.InvariantCulture) == expected;
    }

    private async Task<T> RunAsync<T>(Func<T> action, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return action();
        }
        catch (SqliteException ex)
        {
            throw new StateStoreException($"SQLite state store failed: {ex.Message}", ex);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Execute(string sql)
    {
        if (sql.Length == 0)
        {
            return;
        }

        using var command = Command(sql, null);
        command.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, SqliteTransaction? transaction, params (string Name, object Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}
