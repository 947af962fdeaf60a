using System.Globalization;
using Dapr.DurableTask.Protobuf;
using Google.Protobuf;
using Microsoft.Data.Sqlite;

namespace Shadowing.Embedded.Workflows;

/// <summary>An instance as stored: its current execution, status and the fields <c>GetInstance</c> reports.</summary>
internal sealed class InstanceRow
{
    public required string InstanceId { get; init; }

    public required string ExecutionId { get; set; }

    public required string Name { get; init; }

    public OrchestrationStatus Status { get; set; } = OrchestrationStatus.Pending;

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset LastUpdatedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? ScheduledStartAt { get; init; }

    public string? Input { get; set; }

    public string? Output { get; set; }

    public string? CustomStatus { get; set; }

    public TaskFailureDetails? Failure { get; set; }

    public string? ParentInstanceId { get; init; }

    /// <summary>Whether the instance has ended (completed, failed, terminated or canceled).</summary>
    public bool Ended => Status is OrchestrationStatus.Completed or OrchestrationStatus.Failed or OrchestrationStatus.Terminated or OrchestrationStatus.Canceled;
}

/// <summary>An event waiting in an instance's inbox until <see cref="VisibleAt"/> (timers are inbox events from the future).</summary>
/// <param name="Seq">Arrival order.</param>
/// <param name="InstanceId">The instance.</param>
/// <param name="ExecutionId">The execution it belongs to; null for events from outside (raised events, terminate), which go to whichever execution is current.</param>
/// <param name="VisibleAt">When it may be delivered.</param>
/// <param name="Event">The history event.</param>
internal sealed record InboxRow(long Seq, string InstanceId, string? ExecutionId, DateTimeOffset VisibleAt, HistoryEvent Event);

/// <summary>An activity waiting to run (or to run again): the <c>TaskScheduled</c> event that asked for it.</summary>
internal sealed record ActivityRow(long Seq, string InstanceId, string ExecutionId, int TaskId, TaskScheduledEvent Scheduled);

/// <summary>
/// The embedded backend's durable state in SQLite: instances, the history of each one's current execution, inboxes
/// (new events, timers included) and activity work items. Everything one step changes goes in one transaction
/// (<see cref="Run{T}"/>), so a crash leaves either the state before a workflow turn or the state after it. Leases
/// (what has been handed to a worker) are not stored: the process that owns the file owns every lease, so after a
/// restart everything not completed is simply dispatched again. That ownership is enforced: a lock file next to the
/// database is held open exclusively while the store is, so a second process on the same file (a second <c>up</c>, or
/// a workflows host started in the same directory) fails at start instead of running every turn and activity twice.
/// </summary>
internal sealed class WorkflowStore : IDisposable
{
    /// <summary>The path that selects a private in-memory database.</summary>
    public const string InMemory = ":memory:";

    private readonly SqliteConnection _connection;
    private readonly FileStream? _ownership;
    private readonly Lock _gate = new();
    private bool _disposed;

    public WorkflowStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (path != InMemory && Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        if (path != InMemory)
        {
            // FileShare.None is an exclusive advisory lock (flock) on Unix and a sharing lock on Windows; both end with the process.
            try
            {
                _ownership = new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException ex)
            {
                throw new IOException($"The workflow state {path} is in use by another process (its lock file {path}.lock is held): two backends on one file would run every workflow turn and activity twice. Stop the other process, or give this one its own path.", ex);
            }
        }

        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString());
        try
        {
            Open(path);
        }
        catch
        {
            // Not a database, or unreadable: let go of the lock, or a retry in this process would find it "in use".
            _connection.Dispose();
            _ownership?.Dispose();
            throw;
        }
    }

    private void Open(string path)
    {
        _connection.Open();
        Execute(path == InMemory ? string.Empty : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        Execute("""
            PRAGMA busy_timeout = 5000;
            CREATE TABLE IF NOT EXISTS instances (
                instance_id TEXT PRIMARY KEY NOT NULL, execution_id TEXT NOT NULL, name TEXT NOT NULL, status INTEGER NOT NULL,
                created_at INTEGER NOT NULL, last_updated_at INTEGER NOT NULL, completed_at INTEGER, started_at INTEGER,
                scheduled_start_at INTEGER, input TEXT, output TEXT, custom_status TEXT, failure BLOB, parent_instance_id TEXT
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS instances_completed ON instances (status, completed_at);
            CREATE TABLE IF NOT EXISTS history (
                instance_id TEXT NOT NULL, seq INTEGER NOT NULL, event BLOB NOT NULL, PRIMARY KEY (instance_id, seq)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS inbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution_id TEXT, visible_at INTEGER NOT NULL, event BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS inbox_instance ON inbox (instance_id, visible_at);
            CREATE INDEX IF NOT EXISTS inbox_visible ON inbox (visible_at);
            CREATE TABLE IF NOT EXISTS activities (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution_id TEXT NOT NULL, task_id INTEGER NOT NULL, scheduled BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS activities_instance ON activities (instance_id);
            """);
    }

    /// <summary>Runs <paramref name="work"/> in one transaction, committed when it returns and rolled back when it throws.</summary>
    public T Run<T>(Func<Transaction, T> work)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var transaction = _connection.BeginTransaction(deferred: false);
            var result = work(new Transaction(this, transaction));
            transaction.Commit();
            return result;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _connection.Dispose();
                _ownership?.Dispose();
            }
        }
    }

    private void Execute(string sql)
    {
        if (sql.Length == 0)
        {
            return;
        }

        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Ticks(DateTimeOffset time) => time.UtcTicks;

    private static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    /// <summary>The operations of one transaction.</summary>
    internal sealed class Transaction(WorkflowStore store, SqliteTransaction transaction)
    {
        public InstanceRow? GetInstance(string instanceId)
        {
            using var command = Command("SELECT * FROM instances WHERE instance_id = $id", ("$id", instanceId));
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadInstance(reader) : null;
        }

        public void InsertInstance(InstanceRow row) => WriteInstance(row, insert: true);

        public void UpdateInstance(InstanceRow row) => WriteInstance(row, insert: false);

        /// <summary>Deletes an instance and everything it has: history, inbox, activities.</summary>
        public void DeleteInstance(string instanceId)
        {
            foreach (var table in new[] { "instances", "history", "inbox", "activities" })
            {
                using var command = Command($"DELETE FROM {table} WHERE instance_id = $id", ("$id", instanceId));
                command.ExecuteNonQuery();
            }
        }

        public List<HistoryEvent> GetHistory(string instanceId)
        {
            using var command = Command("SELECT event FROM history WHERE instance_id = $id ORDER BY seq", ("$id", instanceId));
            using var reader = command.ExecuteReader();
            var events = new List<HistoryEvent>();
            while (reader.Read())
            {
                events.Add(HistoryEvent.Parser.ParseFrom((byte[])reader.GetValue(0)));
            }

            return events;
        }

        public void AppendHistory(string instanceId, IReadOnlyList<HistoryEvent> events)
        {
            using var count = Command("SELECT COALESCE(MAX(seq) + 1, 0) FROM history WHERE instance_id = $id", ("$id", instanceId));
            var seq = (long)count.ExecuteScalar()!;
            foreach (var historyEvent in events)
            {
                using var insert = Command("INSERT INTO history (instance_id, seq, event) VALUES ($id, $seq, $event)", ("$id", instanceId), ("$seq", seq++), ("$event", historyEvent.ToByteArray()));
                insert.ExecuteNonQuery();
            }
        }

        public void ClearHistory(string instanceId)
        {
            using var command = Command("DELETE FROM history WHERE instance_id = $id", ("$id", instanceId));
            command.ExecuteNonQuery();
        }

        public void Enqueue(string instanceId, string? executionId, DateTimeOffset visibleAt, HistoryEvent historyEvent)
        {
            using var command = Command(
                "INSERT INTO inbox (instance_id, execution_id, visible_at, event) VALUES ($id, $execution, $visible, $event)",
                ("$id", instanceId),
                ("$execution", (object?)executionId ?? DBNull.Value),
                ("$visible", Ticks(visibleAt)),
                ("$event", historyEvent.ToByteArray()));
            command.ExecuteNonQuery();
        }

        /// <summary>The inbox events of an instance visible at <paramref name="now"/>, in the order they became visible.</summary>
        public List<InboxRow> VisibleInbox(string instanceId, DateTimeOffset now)
        {
            // Events are stored visible from their arrival, timers from when they fire: ordered by that, a timer comes
            // after what arrived before it fired, as daprd appends a timer's event when its reminder fires.
            using var command = Command("SELECT seq, instance_id, execution_id, visible_at, event FROM inbox WHERE instance_id = $id AND visible_at <= $now ORDER BY visible_at, seq", ("$id", instanceId), ("$now", Ticks(now)));
            return ReadInbox(command);
        }

        public List<InboxRow> InboxRows(IReadOnlyList<long> seqs)
        {
            var rows = new List<InboxRow>(seqs.Count);
            foreach (var seq in seqs)
            {
                using var command = Command("SELECT seq, instance_id, execution_id, visible_at, event FROM inbox WHERE seq = $seq", ("$seq", seq));
                rows.AddRange(ReadInbox(command));
            }

            return rows;
        }

        public void DeleteInbox(IEnumerable<long> seqs)
        {
            foreach (var seq in seqs)
            {
                using var command = Command("DELETE FROM inbox WHERE seq = $seq", ("$seq", seq));
                command.ExecuteNonQuery();
            }
        }

        /// <summary>Deletes an instance's inbox events (all of them, or those of one past execution).</summary>
        public void DeleteInbox(string instanceId, string? executionId = null)
        {
            using var command = executionId is null
                ? Command("DELETE FROM inbox WHERE instance_id = $id", ("$id", instanceId))
                : Command("DELETE FROM inbox WHERE instance_id = $id AND execution_id = $execution", ("$id", instanceId), ("$execution", executionId));
            command.ExecuteNonQuery();
        }

        /// <summary>Instances with an inbox event visible at <paramref name="now"/>, oldest event first.</summary>
        public List<string> InstancesWithVisibleEvents(DateTimeOffset now)
        {
            using var command = Command("SELECT instance_id FROM inbox WHERE visible_at <= $now GROUP BY instance_id ORDER BY MIN(seq)", ("$now", Ticks(now)));
            using var reader = command.ExecuteReader();
            var ids = new List<string>();
            while (reader.Read())
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }

        /// <summary>When the next inbox event (a timer, a delayed start) becomes visible after <paramref name="now"/>.</summary>
        public DateTimeOffset? NextVisibleAfter(DateTimeOffset now)
        {
            using var command = Command("SELECT MIN(visible_at) FROM inbox WHERE visible_at > $now", ("$now", Ticks(now)));
            return command.ExecuteScalar() is long ticks ? Time(ticks) : null;
        }

        public void InsertActivity(string instanceId, string executionId, int taskId, TaskScheduledEvent scheduled)
        {
            using var command = Command(
                "INSERT INTO activities (instance_id, execution_id, task_id, scheduled) VALUES ($id, $execution, $task, $scheduled)",
                ("$id", instanceId),
                ("$execution", executionId),
                ("$task", taskId),
                ("$scheduled", scheduled.ToByteArray()));
            command.ExecuteNonQuery();
        }

        public ActivityRow? GetActivity(long seq)
        {
            using var command = Command("SELECT seq, instance_id, execution_id, task_id, scheduled FROM activities WHERE seq = $seq", ("$seq", seq));
            return ReadActivities(command).FirstOrDefault();
        }

        /// <summary>Activities waiting, oldest first, skipping those in <paramref name="exclude"/> (dispatched already).</summary>
        public List<ActivityRow> Activities(IReadOnlySet<long> exclude, int limit)
        {
            using var command = Command("SELECT seq, instance_id, execution_id, task_id, scheduled FROM activities ORDER BY seq");
            return [.. ReadActivities(command).Where(a => !exclude.Contains(a.Seq)).Take(limit)];
        }

        public void DeleteActivity(long seq)
        {
            using var command = Command("DELETE FROM activities WHERE seq = $seq", ("$seq", seq));
            command.ExecuteNonQuery();
        }

        /// <summary>Deletes an instance's activity work items (all of them, or those of one past execution).</summary>
        public void DeleteActivities(string instanceId, string? executionId = null)
        {
            using var command = executionId is null
                ? Command("DELETE FROM activities WHERE instance_id = $id", ("$id", instanceId))
                : Command("DELETE FROM activities WHERE instance_id = $id AND execution_id = $execution", ("$id", instanceId), ("$execution", executionId));
            command.ExecuteNonQuery();
        }

        /// <summary>Instance ids in order after <paramref name="after"/>, at most <paramref name="limit"/>.</summary>
        public List<string> InstanceIds(string? after, int limit)
        {
            using var command = Command("SELECT instance_id FROM instances WHERE instance_id > $after ORDER BY instance_id LIMIT $limit", ("$after", after ?? string.Empty), ("$limit", limit));
            using var reader = command.ExecuteReader();
            var ids = new List<string>();
            while (reader.Read())
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }

        /// <summary>Ended instances whose end is before <paramref name="cutoff"/>.</summary>
        public List<string> EndedBefore(DateTimeOffset cutoff)
        {
            using var command = Command(
                "SELECT instance_id FROM instances WHERE status IN ($completed, $failed, $terminated, $canceled) AND completed_at < $cutoff",
                ("$completed", (int)OrchestrationStatus.Completed),
                ("$failed", (int)OrchestrationStatus.Failed),
                ("$terminated", (int)OrchestrationStatus.Terminated),
                ("$canceled", (int)OrchestrationStatus.Canceled),
                ("$cutoff", Ticks(cutoff)));
            using var reader = command.ExecuteReader();
            var ids = new List<string>();
            while (reader.Read())
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }

        private static InstanceRow ReadInstance(SqliteDataReader reader)
        {
            long? Long(string column) => reader.IsDBNull(reader.GetOrdinal(column)) ? null : reader.GetInt64(reader.GetOrdinal(column));
            string? Text(string column) => reader.IsDBNull(reader.GetOrdinal(column)) ? null : reader.GetString(reader.GetOrdinal(column));
            return new InstanceRow
            {
                InstanceId = reader.GetString(reader.GetOrdinal("instance_id")),
                ExecutionId = reader.GetString(reader.GetOrdinal("execution_id")),
                Name = reader.GetString(reader.GetOrdinal("name")),
                Status = (OrchestrationStatus)reader.GetInt32(reader.GetOrdinal("status")),
                CreatedAt = Time(reader.GetInt64(reader.GetOrdinal("created_at"))),
                LastUpdatedAt = Time(reader.GetInt64(reader.GetOrdinal("last_updated_at"))),
                CompletedAt = Long("completed_at") is { } completed ? Time(completed) : null,
                StartedAt = Long("started_at") is { } started ? Time(started) : null,
                ScheduledStartAt = Long("scheduled_start_at") is { } scheduled ? Time(scheduled) : null,
                Input = Text("input"),
                Output = Text("output"),
                CustomStatus = Text("custom_status"),
                Failure = reader.IsDBNull(reader.GetOrdinal("failure")) ? null : TaskFailureDetails.Parser.ParseFrom((byte[])reader.GetValue(reader.GetOrdinal("failure"))),
                ParentInstanceId = Text("parent_instance_id"),
            };
        }

        private void WriteInstance(InstanceRow row, bool insert)
        {
            object Nullable(object? value) => value ?? DBNull.Value;
            using var command = Command(
                insert
                    ? """
                      INSERT INTO instances (instance_id, execution_id, name, status, created_at, last_updated_at, completed_at, started_at, scheduled_start_at, input, output, custom_status, failure, parent_instance_id)
                      VALUES ($id, $execution, $name, $status, $created, $updated, $completed, $started, $scheduled, $input, $output, $custom, $failure, $parent)
                      """
                    : """
                      UPDATE instances SET execution_id = $execution, status = $status, last_updated_at = $updated, completed_at = $completed, started_at = $started,
                          input = $input, output = $output, custom_status = $custom, failure = $failure
                      WHERE instance_id = $id
                      """,
                ("$id", row.InstanceId),
                ("$execution", row.ExecutionId),
                ("$name", row.Name),
                ("$status", (int)row.Status),
                ("$created", Ticks(row.CreatedAt)),
                ("$updated", Ticks(row.LastUpdatedAt)),
                ("$completed", Nullable(row.CompletedAt is { } c ? Ticks(c) : null)),
                ("$started", Nullable(row.StartedAt is { } s ? Ticks(s) : null)),
                ("$scheduled", Nullable(row.ScheduledStartAt is { } t ? Ticks(t) : null)),
                ("$input", Nullable(row.Input)),
                ("$output", Nullable(row.Output)),
                ("$custom", Nullable(row.CustomStatus)),
                ("$failure", Nullable(row.Failure?.ToByteArray())),
                ("$parent", Nullable(row.ParentInstanceId)));
            command.ExecuteNonQuery();
        }

        private static List<InboxRow> ReadInbox(SqliteCommand command)
        {
            using var reader = command.ExecuteReader();
            var rows = new List<InboxRow>();
            while (reader.Read())
            {
                rows.Add(new InboxRow(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2),
                    Time(reader.GetInt64(3)),
                    HistoryEvent.Parser.ParseFrom((byte[])reader.GetValue(4))));
            }

            return rows;
        }

        private static List<ActivityRow> ReadActivities(SqliteCommand command)
        {
            using var reader = command.ExecuteReader();
            var rows = new List<ActivityRow>();
            while (reader.Read())
            {
                rows.Add(new ActivityRow(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), TaskScheduledEvent.Parser.ParseFrom((byte[])reader.GetValue(4))));
            }

            return rows;
        }

        private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
        {
            var command = store._connection.CreateCommand();
            command.CommandText = sql;
            command.Transaction = transaction;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }

            return command;
        }
    }
}
