using System.Threading.Channels;
using Dapr.DurableTask.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;

namespace Shadowing.Embedded.Workflows;

/// <summary>
/// The durable-task engine behind the embedded sidecar service: keeps instances in <see cref="WorkflowStore"/>,
/// hands workflow turns and activities to the connected Dapr.Workflow workers, and commits what they answer.
/// </summary>
/// <remarks>
/// <para><b>Turns.</b> An instance with inbox events visible now and no turn in flight gets one: its committed history as
/// <c>pastEvents</c>, and <c>[WorkflowStarted(now)] + inbox</c> as <c>newEvents</c>. The answer is committed in one
/// transaction: the turn's events and the history its actions produce, activities to run, timers (inbox events made
/// visible at their time), events for other instances, and the instance's new status. Inbox events that arrive during
/// a turn wait for the next one.</para>
/// <para><b>Leases.</b> What was handed to a worker is remembered in memory with the stream it went to. A stream that
/// ends (the worker reconnected, or its host stopped) gives its work back; so does a lease older than
/// <see cref="EmbeddedWorkflowOptions.LeaseTimeout"/>. After a restart nothing is leased, so every pending turn and
/// activity goes out again: activities run at least once, as on Dapr. A completion whose lease is gone is accepted and
/// dropped: the 1.19.0 worker tears down its whole stream on any error answer.</para>
/// <para><b>Executions.</b> Timers and activity results carry the execution they belong to, so after ContinueAsNew
/// a late result of the old execution cannot complete a task of the new one.</para>
/// </remarks>
internal sealed partial class WorkflowEngine : IAsyncDisposable
{
    /// <summary>The fire time of the timer a wait without timeout creates: recorded, never scheduled.</summary>
    private static readonly Timestamp NeverFires = new() { Seconds = 253402300799, Nanos = 999999999 };
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(1);

    private readonly WorkflowStore _store;
    private readonly TimeProvider _time;
    private readonly EmbeddedWorkflowOptions _options;
    private readonly ILogger<WorkflowEngine> _logger;
    private readonly Lock _lock = new();
    private readonly List<WorkerStream> _streams = [];
    private readonly Dictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly HashSet<string> _instancesInTurn = new(StringComparer.Ordinal);

    /// <summary>
    /// Instances whose last turn could not be committed: not dispatched again before the time given, which doubles with
    /// each failure in a row (from <see cref="RetryAfterFailure"/> to <see cref="MaxCommitBackoff"/>). Without it a turn
    /// that can never be committed went straight back to the worker, which ran it again, without end (three times in the
    /// first second in a test), each failure logged.
    /// </summary>
    private readonly Dictionary<string, (DateTimeOffset Until, TimeSpan Delay)> _commitBackoff = new(StringComparer.Ordinal);

    private static readonly TimeSpan MaxCommitBackoff = TimeSpan.FromMinutes(1);

    private long _turnCommitFailures;
    private long _activityCommitFailures;

    // Activities whose result could not be committed: dispatched again once Until has come (1 s, then 2 s, 4 s … up to a
    // minute, as turns), not at once in a loop; forgotten once a result of theirs commits.
    private readonly Dictionary<long, (DateTimeOffset Until, TimeSpan Delay)> _activityBackoff = [];

    /// <summary>Turns whose commit failed, since start.</summary>
    internal long TurnCommitFailures => Interlocked.Read(ref _turnCommitFailures);

    /// <summary>Activity results that could not be committed (each activity dispatched again after a backoff).</summary>
    internal long ActivityCommitFailures => Interlocked.Read(ref _activityCommitFailures);
    private readonly HashSet<long> _activitiesInFlight = [];
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loops = Task.CompletedTask;
    private int _nextStream;
    private int _disposed;

    public WorkflowEngine(WorkflowStore store, TimeProvider time, IOptions<EmbeddedWorkflowOptions> options, ILogger<WorkflowEngine> logger)
    {
        _store = store;
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Worker streams connected now.</summary>
    public int ConnectedWorkers
    {
        get
        {
            lock (_lock)
            {
                return _streams.Count;
            }
        }
    }

    /// <summary>Activities handed to workers and not completed yet.</summary>
    public int ActivitiesInFlight
    {
        get
        {
            lock (_lock)
            {
                return _activitiesInFlight.Count;
            }
        }
    }

    /// <summary>Starts dispatching and the retention purge.</summary>
    public void Start() => _loops = Task.WhenAll(Task.Run(DispatchLoopAsync), Task.Run(PurgeLoopAsync));

    /// <summary>Ends every worker stream now (its work goes back to be dispatched again); the workers reconnect.</summary>
    public void DisconnectWorkers()
    {
        WorkerStream[] streams;
        lock (_lock)
        {
            streams = [.. _streams];
        }

        foreach (var stream in streams)
        {
            stream.Items.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        DisconnectWorkers();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }

    // ----- the work-item stream --------------------------------------------------------------------------------

    /// <summary>Serves one worker's <c>GetWorkItems</c> stream until the worker or the engine ends it.</summary>
    public async Task StreamWorkItemsAsync(IServerStreamWriter<WorkItem> writer, CancellationToken cancellationToken)
    {
        var stream = new WorkerStream();
        lock (_lock)
        {
            _streams.Add(stream);
        }

        LogWorkerConnected();
        Wake();
        try
        {
            await foreach (var item in stream.Items.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the worker went away
        }
        finally
        {
            Release(stream);
            LogWorkerDisconnected();
        }
    }

    /// <summary>Gives back every lease of a stream that ended, so its work is dispatched again.</summary>
    private void Release(WorkerStream stream)
    {
        lock (_lock)
        {
            _streams.Remove(stream);
            foreach (var lease in _leases.Values.Where(l => l.Stream == stream).ToArray())
            {
                Forget(lease);
            }
        }

        Wake();
    }

    private void Forget(Lease lease)
    {
        // A lease already forgotten (expired while its completion was committing) holds nothing any more: the instance
        // may have been handed out again since, and freeing it now would let a third dispatch of the same turn out.
        if (!_leases.Remove(lease.Token))
        {
            return;
        }

        if (lease.ActivitySeq is { } seq)
        {
            _activitiesInFlight.Remove(seq);
        }
        else
        {
            _instancesInTurn.Remove(lease.InstanceId);
        }
    }

    // ----- dispatching -----------------------------------------------------------------------------------------

    private void Wake() => _wake.Writer.TryWrite(true);

    private async Task DispatchLoopAsync()
    {
        var stopping = _stopping.Token;
        Task? woken = null; // kept across waits: see BackgroundLoop.SignalOrDelayAsync
        while (!stopping.IsCancellationRequested)
        {
            // A pass that fails (the database busy or failing) is tried again in a second, not after the lease timeout:
            // a timer that fell due meanwhile would otherwise wait up to half an hour.
            DateTimeOffset? next = _time.GetUtcNow() + RetryAfterFailure;
            if (!await BackgroundLoop.RunOnceAsync("workflow-dispatch", _ => Task.FromResult(next = Earliest(Dispatch(), NextLeaseExpiry())), LogDispatchFailed, stopping).ConfigureAwait(false))
            {
                return;
            }

            // Sleep until something changes, the next timer is due, or a lease must be checked.
            var now = _time.GetUtcNow();
            var wait = next is { } due ? due - now : _options.LeaseTimeout;
            wait = wait < TimeSpan.Zero ? TimeSpan.Zero : wait > _options.LeaseTimeout ? _options.LeaseTimeout : wait;
            woken ??= _wake.Reader.WaitToReadAsync(stopping).AsTask();
            if (await BackgroundLoop.SignalOrDelayAsync(woken, wait, _time, stopping).ConfigureAwait(false))
            {
                woken = null;
                _wake.Reader.TryRead(out _);
            }
        }
    }

    /// <summary>
    /// When the oldest lease runs out: the loop wakes then to take it back, rather than up to a whole lease timeout later
    /// when it last slept just before the lease was due.
    /// </summary>
    private DateTimeOffset? NextLeaseExpiry()
    {
        lock (_lock)
        {
            return _leases.Count == 0 ? null : _leases.Values.Min(l => l.At) + _options.LeaseTimeout + TimeSpan.FromTicks(1);
        }
    }

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>Hands out every turn and activity that can go now; returns when the next timer is due.</summary>
    private DateTimeOffset? Dispatch()
    {
        var now = _time.GetUtcNow();
        ExpireLeases(now);
        bool noWorker;
        lock (_lock)
        {
            noWorker = _streams.Count == 0;
        }

        // Never the store under _lock: a turn's commit takes _lock under the store's gate.
        if (noWorker)
        {
            return _store.Run(tx => tx.NextVisibleAfter(now));
        }

        var turns = _store.Run(tx => tx.InstancesWithVisibleEvents(now));
        var failed = false;
        DateTimeOffset? backedOff = null;
        foreach (var instanceId in turns)
        {
            lock (_lock)
            {
                if (_instancesInTurn.Count >= _options.MaxConcurrentTurns)
                {
                    break;
                }

                if (_commitBackoff.TryGetValue(instanceId, out var backoff) && backoff.Until > now)
                {
                    backedOff = Earliest(backedOff, backoff.Until);
                    continue;
                }

                if (!_instancesInTurn.Add(instanceId))
                {
                    continue;
                }
            }

            var sent = false;
            try
            {
                sent = TryDispatchTurn(instanceId, now);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // This instance's turn cannot be read (a row that does not parse, the store failing): the others still go,
                // and this one is tried again in a second.
                failed = true;
                LogTurnDispatchFailed(instanceId, ex);
            }
            finally
            {
                // Also when reading the turn failed: no lease holds the instance, so nothing else would ever free it.
                if (!sent)
                {
                    lock (_lock)
                    {
                        _instancesInTurn.Remove(instanceId);
                    }
                }
            }
        }

        var retry = DispatchActivities(now);
        var next = Earliest(Earliest(_store.Run(tx => tx.NextVisibleAfter(now)), backedOff), retry);
        return failed && (next is null || next > now + RetryAfterFailure) ? now + RetryAfterFailure : next;
    }

    private bool TryDispatchTurn(string instanceId, DateTimeOffset now)
    {
        var turn = _store.Run<(InstanceRow Instance, List<InboxRow> Rows, List<HistoryEvent> History)?>(tx =>
        {
            var instance = tx.GetInstance(instanceId);
            if (instance is null || instance.Ended)
            {
                tx.DeleteInbox(instanceId); // nothing may happen to an instance that is gone or over
                return null;
            }

            var rows = tx.VisibleInbox(instanceId, now);
            var stale = rows.Where(r => r.ExecutionId is not null && r.ExecutionId != instance.ExecutionId).ToArray();
            tx.DeleteInbox(stale.Select(r => r.Seq));
            rows = [.. rows.Except(stale)];
            if (rows.Count == 0)
            {
                return null;
            }

            var history = tx.GetHistory(instanceId);
            if (history.Count == 0)
            {
                // An execution not started yet: events sent before its (scheduled) start wait behind it, as in daprd's
                // inbox, where ExecutionStarted is stored first; a turn without it would fail the instance.
                var start = rows.FindIndex(r => r.Event.ExecutionStarted is not null);
                if (start < 0)
                {
                    return null;
                }

                rows = [rows[start], .. rows.Where((_, i) => i != start)];
            }

            return (Instance: instance, Rows: rows, History: history);
        });
        if (turn is not { } t)
        {
            return false;
        }

        var started = new HistoryEvent { EventId = -1, Timestamp = Timestamp.FromDateTimeOffset(now), WorkflowStarted = new WorkflowStartedEvent() };
        var request = new WorkflowRequest { InstanceId = instanceId, ExecutionId = t.Instance.ExecutionId };
        request.PastEvents.AddRange(t.History);
        request.NewEvents.Add(started);
        request.NewEvents.AddRange(t.Rows.Select(r => r.Event));
        var lease = new Lease(Token(), instanceId, t.Instance.ExecutionId, now) { InboxSeqs = [.. t.Rows.Select(r => r.Seq)], WorkflowStarted = started };
        return Send(lease, new WorkItem { WorkflowRequest = request });
    }

    /// <summary>Dispatches what activities there is room for; returns when one waiting after a failed commit is due.</summary>
    private DateTimeOffset? DispatchActivities(DateTimeOffset now)
    {
        HashSet<long> inFlight;
        int room;
        DateTimeOffset? retry = null;
        lock (_lock)
        {
            var waiting = _activityBackoff.Where(b => b.Value.Until > now).ToArray();
            foreach (var (_, (until, _)) in waiting)
            {
                retry = Earliest(retry, until);
            }

            // Those waiting are left out as those in flight are.
            inFlight = [.. _activitiesInFlight, .. waiting.Select(b => b.Key)];
            room = _options.MaxConcurrentActivities - _activitiesInFlight.Count;
        }

        if (room <= 0)
        {
            return retry;
        }

        foreach (var activity in _store.Run(tx => tx.Activities(inFlight, room)))
        {
            lock (_lock)
            {
                if (!_activitiesInFlight.Add(activity.Seq))
                {
                    continue;
                }
            }

            var request = new ActivityRequest
            {
                Name = activity.Scheduled.Name,
                Version = activity.Scheduled.Version,
                Input = activity.Scheduled.Input,
                WorkflowInstance = new WorkflowInstance { InstanceId = activity.InstanceId, ExecutionId = activity.ExecutionId },
                TaskId = activity.TaskId,
                TaskExecutionId = activity.Scheduled.TaskExecutionId,
                ParentTraceContext = activity.Scheduled.ParentTraceContext,
            };
            var lease = new Lease($"a{activity.Seq}-{Token()}", activity.InstanceId, activity.ExecutionId, now) { ActivitySeq = activity.Seq };
            if (!Send(lease, new WorkItem { ActivityRequest = request }))
            {
                lock (_lock)
                {
                    _activitiesInFlight.Remove(activity.Seq);
                }
            }
        }

        return retry;
    }

    /// <summary>Records the lease and queues the item on a stream (round robin); false when no stream is connected.</summary>
    private bool Send(Lease lease, WorkItem item)
    {
        lock (_lock)
        {
            for (var tries = 0; tries < _streams.Count; tries++)
            {
                var stream = _streams[_nextStream++ % _streams.Count];
                item.CompletionToken = lease.Token;
                lease.Stream = stream;
                _leases[lease.Token] = lease;
                if (stream.Items.Writer.TryWrite(item))
                {
                    return true;
                }

                _leases.Remove(lease.Token);
            }

            return false;
        }
    }

    private void ExpireLeases(DateTimeOffset now)
    {
        lock (_lock)
        {
            foreach (var lease in _leases.Values.Where(l => now - l.At > _options.LeaseTimeout).ToArray())
            {
                LogLeaseExpired(lease.InstanceId, lease.ActivitySeq is null ? "workflow turn" : "activity");
                Forget(lease);
            }
        }
    }

    // ----- completions -----------------------------------------------------------------------------------------

    /// <summary>
    /// Commits a workflow turn. A completion whose lease is gone (stale, duplicate) is dropped, never refused; one that
    /// cannot be committed is counted, logged and dispatched again after a backoff, never refused either.
    /// </summary>
    public Task<CompleteTaskResponse> CompleteTurnAsync(WorkflowResponse response)
    {
        Lease? lease;
        lock (_lock)
        {
            if (!_leases.TryGetValue(response.CompletionToken, out lease) || lease.ActivitySeq is not null || lease.InstanceId != response.InstanceId)
            {
                lease = null;
            }
        }

        if (lease is null)
        {
            LogStaleCompletion(response.InstanceId, "workflow turn");
            return Task.FromResult(new CompleteTaskResponse());
        }

        try
        {
            if (!_store.Run(tx => Commit(tx, lease, response)))
            {
                LogStaleCompletion(response.InstanceId, "workflow turn");
            }

            lock (_lock)
            {
                _commitBackoff.Remove(lease.InstanceId);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _turnCommitFailures);
            TimeSpan delay;
            lock (_lock)
            {
                delay = _commitBackoff.TryGetValue(lease.InstanceId, out var last) ? TimeSpan.FromTicks(Math.Min(last.Delay.Ticks * 2, MaxCommitBackoff.Ticks)) : RetryAfterFailure;
                _commitBackoff[lease.InstanceId] = (_time.GetUtcNow() + delay, delay);
            }

            // Answered as done, not as an error: the worker drops its whole stream on an error answer, and with it every
            // lease on the stream, so each activity still running would be dispatched a second time. The turn's events
            // stay in the inbox, and it is dispatched again after the backoff.
            LogTurnCommitFailed(lease.InstanceId, delay, ex);
            return Task.FromResult(new CompleteTaskResponse());
        }
        finally
        {
            lock (_lock)
            {
                Forget(lease);
            }

            Wake(); // also when the commit failed: the instance's events wait for a dispatch pass
        }

        Changed();
        return Task.FromResult(new CompleteTaskResponse());
    }

    /// <summary>
    /// Commits an activity's result as a <c>TaskCompleted</c> or <c>TaskFailed</c> in its instance's inbox. The token
    /// names the activity, so a result is taken even when its lease was given back (the worker finished just as its
    /// stream ended): the first result of an activity wins, and a copy dispatched again finds nothing left to complete.
    /// </summary>
    public Task<CompleteTaskResponse> CompleteActivityAsync(ActivityResponse response)
    {
        if (ActivityOf(response.CompletionToken) is not { } seq)
        {
            LogStaleCompletion(response.InstanceId, "activity");
            return Task.FromResult(new CompleteTaskResponse());
        }

        var now = _time.GetUtcNow();
        bool committed;
        try
        {
            committed = CommitActivity(seq, response, now);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Answered as done, not as an error (the worker would drop its stream, and every activity still running on it
            // would be dispatched a second time): this one runs again after a backoff, as an activity may (at least once).
            // Only this copy's lease is given back: a late result of an earlier copy leaves the copy now running alone.
            Interlocked.Increment(ref _activityCommitFailures);
            var delay = TimeSpan.Zero;
            lock (_lock)
            {
                if (_leases.TryGetValue(response.CompletionToken, out var own))
                {
                    Forget(own);
                }

                if (!_leases.Values.Any(l => l.ActivitySeq == seq))
                {
                    delay = _activityBackoff.TryGetValue(seq, out var last) ? TimeSpan.FromTicks(Math.Min(last.Delay.Ticks * 2, MaxCommitBackoff.Ticks)) : RetryAfterFailure;
                    _activityBackoff[seq] = (_time.GetUtcNow() + delay, delay); // from now: the commit may have waited on the store
                }
            }

            LogActivityCommitFailed(response.InstanceId, delay, ex);
            Wake();
            return Task.FromResult(new CompleteTaskResponse());
        }

        lock (_lock)
        {
            _activityBackoff.Remove(seq);
            foreach (var lease in _leases.Values.Where(l => l.ActivitySeq == seq).ToArray())
            {
                Forget(lease);
            }
        }

        if (!committed)
        {
            LogStaleCompletion(response.InstanceId, "activity");
        }

        Wake();
        return Task.FromResult(new CompleteTaskResponse());
    }

    /// <summary>Enqueues an activity's result in its instance's inbox, once; false when there is nothing to complete.</summary>
    private bool CommitActivity(long seq, ActivityResponse response, DateTimeOffset now) =>
        _store.Run(tx =>
        {
            if (tx.GetActivity(seq) is not { } activity)
            {
                return false; // already completed through an earlier dispatch
            }

            tx.DeleteActivity(activity.Seq);
            var instance = tx.GetInstance(activity.InstanceId);
            if (instance is null || instance.Ended || instance.ExecutionId != activity.ExecutionId)
            {
                return false; // its instance is over, or moved on to a new execution
            }

            var result = new HistoryEvent { EventId = -1, Timestamp = Timestamp.FromDateTimeOffset(now) };
            if (response.FailureDetails is { } failure)
            {
                result.TaskFailed = new TaskFailedEvent { TaskScheduledId = activity.TaskId, FailureDetails = failure, TaskExecutionId = activity.Scheduled.TaskExecutionId };
            }
            else
            {
                result.TaskCompleted = new TaskCompletedEvent { TaskScheduledId = activity.TaskId, Result = response.Result, TaskExecutionId = activity.Scheduled.TaskExecutionId };
            }

            tx.Enqueue(activity.InstanceId, activity.ExecutionId, now, result);
            return true;
        });

    /// <summary>The activity an activity completion token names: <c>a{seq}-{unique}</c>.</summary>
    private static long? ActivityOf(string token)
    {
        var dash = token.IndexOf('-', StringComparison.Ordinal);
        return token.StartsWith('a') && dash > 1 && long.TryParse(token.AsSpan(1, dash - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seq) ? seq : null;
    }

    /// <summary>Applies one workflow turn; see the class remarks.</summary>
    private bool Commit(WorkflowStore.Transaction tx, Lease lease, WorkflowResponse response)
    {
        lock (_lock)
        {
            // Checked again under the store's gate: a lease that expired after CompleteTurnAsync found it has had its
            // instance's turn handed out again (the dispatcher reads turns under the same gate), and two commits of one
            // turn would schedule its actions twice.
            if (!_leases.ContainsKey(lease.Token))
            {
                return false;
            }
        }

        var now = _time.GetUtcNow();
        var instance = tx.GetInstance(lease.InstanceId);
        if (instance is null || instance.Ended || instance.ExecutionId != lease.ExecutionId)
        {
            return false; // purged, ended or continued-as-new since the turn was handed out
        }

        var consumed = tx.InboxRows(lease.InboxSeqs);
        if (consumed.Count != lease.InboxSeqs.Count)
        {
            return false; // some of its events were committed by another dispatch of this turn
        }

        tx.DeleteInbox(lease.InboxSeqs);
        var started = lease.WorkflowStarted!.Clone();
        if (response.Version is { } version)
        {
            // IsPatched is rebuilt on replay from the versions of past WorkflowStarted events.
            started.WorkflowStarted.Version = version;
        }

        var appended = new List<HistoryEvent> { started };
        appended.AddRange(consumed.Select(r => r.Event));
        foreach (var e in consumed.Select(r => r.Event))
        {
            switch (e.EventTypeCase)
            {
                case HistoryEvent.EventTypeOneofCase.ExecutionStarted:
                    instance.Input = e.ExecutionStarted.Input;
                    instance.StartedAt ??= started.Timestamp.ToDateTimeOffset();
                    if (instance.Status == OrchestrationStatus.Pending)
                    {
                        instance.Status = OrchestrationStatus.Running; // not when it was suspended before it started
                    }

                    break;
                case HistoryEvent.EventTypeOneofCase.ExecutionSuspended:
                    instance.Status = OrchestrationStatus.Suspended;
                    break;
                case HistoryEvent.EventTypeOneofCase.ExecutionResumed:
                    instance.Status = OrchestrationStatus.Running;
                    break;
            }
        }

        if (response.CustomStatus is { } customStatus)
        {
            instance.CustomStatus = customStatus;
        }

        var history = tx.GetHistory(instance.InstanceId);
        CompleteWorkflowAction? completion = null;
        foreach (var action in response.Actions)
        {
            var stamp = Timestamp.FromDateTimeOffset(now);
            switch (action.WorkflowActionTypeCase)
            {
                case WorkflowAction.WorkflowActionTypeOneofCase.ScheduleTask:
                {
                    var task = action.ScheduleTask;
                    var scheduled = new TaskScheduledEvent { Name = task.Name, Version = task.Version, Input = task.Input, TaskExecutionId = task.TaskExecutionId };
                    if (task.HasHistoryPropagationScope)
                    {
                        scheduled.HistoryPropagationScope = task.HistoryPropagationScope;
                    }

                    appended.Add(new HistoryEvent { EventId = action.Id, Timestamp = stamp, TaskScheduled = scheduled });
                    tx.InsertActivity(instance.InstanceId, instance.ExecutionId, action.Id, scheduled);
                    break;
                }

                case WorkflowAction.WorkflowActionTypeOneofCase.CreateTimer:
                {
                    var timer = action.CreateTimer;
                    var created = new TimerCreatedEvent { FireAt = timer.FireAt };
                    if (timer.HasName)
                    {
                        created.Name = timer.Name;
                    }

                    switch (timer.OriginCase)
                    {
                        case CreateTimerAction.OriginOneofCase.CreateTimer:
                            created.CreateTimer = timer.CreateTimer;
                            break;
                        case CreateTimerAction.OriginOneofCase.ExternalEvent:
                            created.ExternalEvent = timer.ExternalEvent;
                            break;
                        case CreateTimerAction.OriginOneofCase.ActivityRetry:
                            created.ActivityRetry = timer.ActivityRetry;
                            break;
                        case CreateTimerAction.OriginOneofCase.ChildWorkflowRetry:
                            created.ChildWorkflowRetry = timer.ChildWorkflowRetry;
                            break;
                    }

                    appended.Add(new HistoryEvent { EventId = action.Id, Timestamp = stamp, TimerCreated = created });
                    if (timer.FireAt.Seconds < NeverFires.Seconds)
                    {
                        var fired = new HistoryEvent { EventId = -1, Timestamp = timer.FireAt, TimerFired = new TimerFiredEvent { FireAt = timer.FireAt, TimerId = action.Id } };
                        tx.Enqueue(instance.InstanceId, instance.ExecutionId, timer.FireAt.ToDateTimeOffset(), fired);
                    }

                    break;
                }

                case WorkflowAction.WorkflowActionTypeOneofCase.SendEvent:
                {
                    var send = action.SendEvent;
                    appended.Add(new HistoryEvent { EventId = action.Id, Timestamp = stamp, EventSent = new EventSentEvent { InstanceId = send.Instance.InstanceId, Name = send.Name, Input = send.Data } });

                    // Delivered as EventRaised: the worker reads an inbound EventSent as its own action's echo.
                    if (tx.GetInstance(send.Instance.InstanceId) is { Ended: false } target)
                    {
                        tx.Enqueue(target.InstanceId, null, now, new HistoryEvent { EventId = -1, Timestamp = stamp, EventRaised = new EventRaisedEvent { Name = send.Name, Input = send.Data } });
                    }

                    break;
                }

                case WorkflowAction.WorkflowActionTypeOneofCase.CreateChildWorkflow:
                {
                    var child = action.CreateChildWorkflow;
                    var childId = string.IsNullOrEmpty(child.InstanceId) ? Guid.NewGuid().ToString("N") : child.InstanceId;
                    appended.Add(new HistoryEvent { EventId = action.Id, Timestamp = stamp, ChildWorkflowInstanceCreated = new ChildWorkflowInstanceCreatedEvent { InstanceId = childId, Name = child.Name, Version = child.Version, Input = child.Input } });
                    var parent = new ParentInstanceInfo
                    {
                        TaskScheduledId = action.Id,
                        Name = StartOf(history, consumed)?.Name ?? instance.Name,
                        WorkflowInstance = new WorkflowInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId },
                    };
                    if (!TryCreate(tx, childId, child.Name, child.Input, parent, scheduledStart: null, now))
                    {
                        // An instance of that id is still running: fail the child task rather than let the parent wait forever.
                        tx.Enqueue(instance.InstanceId, instance.ExecutionId, now, new HistoryEvent
                        {
                            EventId = -1,
                            Timestamp = stamp,
                            ChildWorkflowInstanceFailed = new ChildWorkflowInstanceFailedEvent
                            {
                                TaskScheduledId = action.Id,
                                FailureDetails = new TaskFailureDetails { ErrorType = "InstanceAlreadyExists", ErrorMessage = $"A workflow instance '{childId}' is already running." },
                            },
                        });
                    }

                    break;
                }

                case WorkflowAction.WorkflowActionTypeOneofCase.CreateDetachedWorkflow:
                {
                    var detached = action.CreateDetachedWorkflow;
                    var detachedId = string.IsNullOrEmpty(detached.InstanceId) ? Guid.NewGuid().ToString("N") : detached.InstanceId;
                    appended.Add(new HistoryEvent { EventId = action.Id, Timestamp = stamp, DetachedWorkflowInstanceCreated = new DetachedWorkflowInstanceCreatedEvent { InstanceId = detachedId } });
                    TryCreate(tx, detachedId, detached.Name, detached.Input, parent: null, detached.ScheduledStartTimestamp?.ToDateTimeOffset(), now);
                    break;
                }

                case WorkflowAction.WorkflowActionTypeOneofCase.TerminateWorkflow:
                {
                    var terminate = action.TerminateWorkflow;
                    if (tx.GetInstance(terminate.InstanceId) is { Ended: false } target)
                    {
                        tx.Enqueue(target.InstanceId, null, now, new HistoryEvent { EventId = -1, Timestamp = stamp, ExecutionTerminated = new ExecutionTerminatedEvent { Input = terminate.Reason, Recurse = terminate.Recurse } });
                    }

                    break;
                }

                case WorkflowAction.WorkflowActionTypeOneofCase.CompleteWorkflow:
                    completion ??= action.CompleteWorkflow;
                    break;
            }

            if (completion is not null)
            {
                break; // the first completion ends the turn: later actions belong to an execution that is over
            }
        }

        if (completion is { WorkflowStatus: OrchestrationStatus.ContinuedAsNew })
        {
            ContinueAsNew(tx, instance, history, consumed, completion, now);
        }
        else
        {
            tx.AppendHistory(instance.InstanceId, appended);
            if (completion is not null)
            {
                End(tx, instance, [.. history, .. appended], completion, now);
            }
        }

        instance.LastUpdatedAt = now;
        tx.UpdateInstance(instance);
        return true;
    }

    private static ExecutionStartedEvent? StartOf(IEnumerable<HistoryEvent> history, IEnumerable<InboxRow> consumed) =>
        history.Concat(consumed.Select(r => r.Event)).LastOrDefault(e => e.ExecutionStarted is not null)?.ExecutionStarted;

    /// <summary>ContinueAsNew: a new execution with a new id starts from the new input, with the carried-over events; the old one's timers and activities are dropped.</summary>
    private static void ContinueAsNew(WorkflowStore.Transaction tx, InstanceRow instance, List<HistoryEvent> history, List<InboxRow> consumed, CompleteWorkflowAction completion, DateTimeOffset now)
    {
        var previous = StartOf(history, consumed);
        var oldExecution = instance.ExecutionId;
        tx.ClearHistory(instance.InstanceId);
        tx.DeleteActivities(instance.InstanceId, oldExecution);
        tx.DeleteInbox(instance.InstanceId, oldExecution);
        instance.ExecutionId = Guid.NewGuid().ToString("N");
        instance.Input = completion.Result;
        instance.Status = OrchestrationStatus.Running;
        var stamp = Timestamp.FromDateTimeOffset(now);
        var start = new ExecutionStartedEvent
        {
            Name = previous?.Name ?? instance.Name,
            Version = previous?.Version,
            Input = completion.Result,
            WorkflowInstance = new WorkflowInstance { InstanceId = instance.InstanceId, ExecutionId = instance.ExecutionId },
            ParentInstance = previous?.ParentInstance,
        };
        tx.Enqueue(instance.InstanceId, instance.ExecutionId, now, new HistoryEvent { EventId = -1, Timestamp = stamp, ExecutionStarted = start });
        foreach (var carried in completion.CarryoverEvents)
        {
            tx.Enqueue(instance.InstanceId, instance.ExecutionId, now, carried);
        }
    }

    /// <summary>The instance ended: record it, tell its parent, stop its children if it was terminated, drop what it still had pending.</summary>
    private static void End(WorkflowStore.Transaction tx, InstanceRow instance, List<HistoryEvent> history, CompleteWorkflowAction completion, DateTimeOffset now)
    {
        var stamp = Timestamp.FromDateTimeOffset(now);
        var terminated = history.LastOrDefault(e => e.ExecutionTerminated is not null)?.ExecutionTerminated;
        instance.Status = completion.WorkflowStatus;
        instance.CompletedAt = now;

        // The worker sends no result for a terminated instance: the output the client passed to terminate stands in.
        instance.Output = completion.Result ?? (completion.WorkflowStatus == OrchestrationStatus.Terminated ? terminated?.Input : null);
        instance.Failure = completion.FailureDetails;
        tx.AppendHistory(instance.InstanceId, [new HistoryEvent { EventId = -1, Timestamp = stamp, ExecutionCompleted = new ExecutionCompletedEvent { WorkflowStatus = completion.WorkflowStatus, Result = instance.Output, FailureDetails = completion.FailureDetails } }]);
        tx.DeleteActivities(instance.InstanceId);
        tx.DeleteInbox(instance.InstanceId);

        var parent = StartOf(history, [])?.ParentInstance;
        if (parent?.WorkflowInstance is { } p && tx.GetInstance(p.InstanceId) is { Ended: false } parentRow && parentRow.ExecutionId == p.ExecutionId)
        {
            var notice = new HistoryEvent { EventId = -1, Timestamp = stamp };
            if (completion.WorkflowStatus == OrchestrationStatus.Completed)
            {
                notice.ChildWorkflowInstanceCompleted = new ChildWorkflowInstanceCompletedEvent { TaskScheduledId = parent.TaskScheduledId, Result = completion.Result };
            }
            else
            {
                notice.ChildWorkflowInstanceFailed = new ChildWorkflowInstanceFailedEvent
                {
                    TaskScheduledId = parent.TaskScheduledId,
                    FailureDetails = completion.FailureDetails ?? new TaskFailureDetails { ErrorType = completion.WorkflowStatus.ToString(), ErrorMessage = $"Child workflow '{instance.InstanceId}' ended {completion.WorkflowStatus}." },
                };
            }

            tx.Enqueue(parentRow.InstanceId, parentRow.ExecutionId, now, notice);
        }

        if (completion.WorkflowStatus == OrchestrationStatus.Terminated && terminated is { Recurse: true })
        {
            foreach (var childId in history.Where(e => e.ChildWorkflowInstanceCreated is not null).Select(e => e.ChildWorkflowInstanceCreated.InstanceId).Distinct())
            {
                if (tx.GetInstance(childId) is { Ended: false })
                {
                    tx.Enqueue(childId, null, now, new HistoryEvent { EventId = -1, Timestamp = stamp, ExecutionTerminated = new ExecutionTerminatedEvent { Input = terminated.Input, Recurse = true } });
                }
            }
        }
    }

    /// <summary>Creates an instance (replacing an ended one of the same id, as daprd does); false when one is still running.</summary>
    private static bool TryCreate(WorkflowStore.Transaction tx, string instanceId, string name, string? input, ParentInstanceInfo? parent, DateTimeOffset? scheduledStart, DateTimeOffset now)
    {
        if (tx.GetInstance(instanceId) is { } existing)
        {
            if (!existing.Ended)
            {
                return false;
            }

            tx.DeleteInstance(instanceId);
        }

        var executionId = Guid.NewGuid().ToString("N");
        tx.InsertInstance(new InstanceRow
        {
            InstanceId = instanceId,
            ExecutionId = executionId,
            Name = name,
            Status = OrchestrationStatus.Pending,
            CreatedAt = now,
            LastUpdatedAt = now,
            ScheduledStartAt = scheduledStart,
            Input = input,
            ParentInstanceId = parent?.WorkflowInstance?.InstanceId,
        });
        var start = new ExecutionStartedEvent { Name = name, Input = input, WorkflowInstance = new WorkflowInstance { InstanceId = instanceId, ExecutionId = executionId }, ParentInstance = parent };
        if (scheduledStart is { } at)
        {
            start.ScheduledStartTimestamp = Timestamp.FromDateTimeOffset(at);
        }

        tx.Enqueue(instanceId, executionId, scheduledStart is { } s && s > now ? s : now, new HistoryEvent { EventId = -1, Timestamp = Timestamp.FromDateTimeOffset(now), ExecutionStarted = start });
        return true;
    }

    // ----- management ------------------------------------------------------------------------------------------

    public Task<CreateInstanceResponse> StartAsync(CreateInstanceRequest request)
    {
        var now = _time.GetUtcNow();
        var instanceId = string.IsNullOrEmpty(request.InstanceId) ? Guid.NewGuid().ToString("N") : request.InstanceId;
        var created = _store.Run(tx => TryCreate(tx, instanceId, request.Name, request.Input, parent: null, request.ScheduledStartTimestamp?.ToDateTimeOffset(), now));
        if (!created)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"an active workflow with ID '{instanceId}' already exists"));
        }

        Changed();
        return Task.FromResult(new CreateInstanceResponse { InstanceId = instanceId });
    }

    public Task<GetInstanceResponse> GetAsync(GetInstanceRequest request) =>
        Task.FromResult(Describe(_store.Run(tx => tx.GetInstance(request.InstanceId)), request.GetInputsAndOutputs));

    /// <summary>Blocks until the instance has started (<paramref name="completion"/> false) or ended; answers at once for an unknown one.</summary>
    public async Task<GetInstanceResponse> WaitAsync(GetInstanceRequest request, bool completion, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Task;
            }

            var instance = _store.Run(tx => tx.GetInstance(request.InstanceId));
            if (instance is null || (completion ? instance.Ended : instance.Status != OrchestrationStatus.Pending))
            {
                return Describe(instance, request.GetInputsAndOutputs);
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public Task<RaiseEventResponse> RaiseEventAsync(RaiseEventRequest request)
    {
        Enqueue(request.InstanceId, new HistoryEvent { EventRaised = new EventRaisedEvent { Name = request.Name, Input = request.Input } });
        return Task.FromResult(new RaiseEventResponse());
    }

    public Task<TerminateResponse> TerminateAsync(TerminateRequest request)
    {
        Enqueue(request.InstanceId, new HistoryEvent { ExecutionTerminated = new ExecutionTerminatedEvent { Input = request.Output, Recurse = request.Recursive } });
        return Task.FromResult(new TerminateResponse());
    }

    public Task<SuspendResponse> SuspendAsync(SuspendRequest request)
    {
        Enqueue(request.InstanceId, new HistoryEvent { ExecutionSuspended = new ExecutionSuspendedEvent { Input = request.Reason } });
        return Task.FromResult(new SuspendResponse());
    }

    public Task<ResumeResponse> ResumeAsync(ResumeRequest request)
    {
        Enqueue(request.InstanceId, new HistoryEvent { ExecutionResumed = new ExecutionResumedEvent { Input = request.Reason } });
        return Task.FromResult(new ResumeResponse());
    }

    /// <summary>Purges an ended instance, and its children when <see cref="PurgeInstancesRequest.Recursive"/>.</summary>
    public Task<PurgeInstancesResponse> PurgeAsync(PurgeInstancesRequest request)
    {
        if (request.RequestCase != PurgeInstancesRequest.RequestOneofCase.InstanceId)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "purging by filter is not supported by the embedded backend; purge by instance id"));
        }

        var deleted = _store.Run(tx =>
        {
            if (tx.GetInstance(request.InstanceId) is not { } root)
            {
                return 0;
            }

            if (!root.Ended && !(request.HasForce && request.Force))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"workflow instance '{request.InstanceId}' is {root.Status}; only ended instances can be purged"));
            }

            return Purge(tx, request.InstanceId, request.Recursive);
        });
        Changed();
        return Task.FromResult(new PurgeInstancesResponse { DeletedInstanceCount = deleted });
    }

    public Task<GetInstanceHistoryResponse> HistoryAsync(GetInstanceHistoryRequest request)
    {
        var response = new GetInstanceHistoryResponse();
        response.Events.AddRange(_store.Run(tx => tx.GetHistory(request.InstanceId)));
        return Task.FromResult(response);
    }

    public Task<ListInstanceIDsResponse> ListAsync(ListInstanceIDsRequest request)
    {
        var size = request.HasPageSize && request.PageSize > 0 ? (int)Math.Min(request.PageSize, 10_000) : int.MaxValue;
        var ids = _store.Run(tx => tx.InstanceIds(request.HasContinuationToken ? request.ContinuationToken : null, size == int.MaxValue ? int.MaxValue : size + 1));
        var response = new ListInstanceIDsResponse();
        response.InstanceIds.AddRange(ids.Take(size));
        if (ids.Count > size)
        {
            response.ContinuationToken = ids[size - 1];
        }

        return Task.FromResult(response);
    }

    private static int Purge(WorkflowStore.Transaction tx, string instanceId, bool recursive)
    {
        var children = recursive
            ? tx.GetHistory(instanceId).Where(e => e.ChildWorkflowInstanceCreated is not null).Select(e => e.ChildWorkflowInstanceCreated.InstanceId).Distinct().ToArray()
            : [];
        tx.DeleteInstance(instanceId);
        var count = 1;
        foreach (var child in children)
        {
            if (tx.GetInstance(child) is { Ended: true })
            {
                count += Purge(tx, child, recursive);
            }
        }

        return count;
    }

    /// <summary>Puts a client's event in an instance's inbox; unknown instance: NotFound; an ended one takes no more events.</summary>
    private void Enqueue(string instanceId, HistoryEvent historyEvent)
    {
        var now = _time.GetUtcNow();
        historyEvent.EventId = -1;
        historyEvent.Timestamp = Timestamp.FromDateTimeOffset(now);
        var found = _store.Run(tx =>
        {
            if (tx.GetInstance(instanceId) is not { } instance)
            {
                return false;
            }

            if (!instance.Ended)
            {
                tx.Enqueue(instanceId, null, now, historyEvent);
            }

            return true;
        });
        if (!found)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"no workflow instance with ID '{instanceId}'"));
        }

        Wake();
    }

    private static GetInstanceResponse Describe(InstanceRow? instance, bool withPayloads)
    {
        if (instance is null)
        {
            return new GetInstanceResponse { Exists = false };
        }

        var state = new WorkflowState
        {
            InstanceId = instance.InstanceId,
            Name = instance.Name,
            WorkflowStatus = instance.Status,
            CreatedTimestamp = Timestamp.FromDateTimeOffset(instance.CreatedAt),
            LastUpdatedTimestamp = Timestamp.FromDateTimeOffset(instance.LastUpdatedAt),
            ExecutionId = instance.ExecutionId,
        };
        if (instance.CompletedAt is { } completed)
        {
            state.CompletedTimestamp = Timestamp.FromDateTimeOffset(completed);
        }

        if (instance.StartedAt is { } startedAt)
        {
            state.StartedAt = Timestamp.FromDateTimeOffset(startedAt);
        }

        if (instance.ScheduledStartAt is { } scheduled)
        {
            state.ScheduledStartTimestamp = Timestamp.FromDateTimeOffset(scheduled);
        }

        if (instance.ParentInstanceId is { } parent)
        {
            state.ParentInstanceId = parent;
        }

        if (withPayloads)
        {
            state.Input = instance.Input;
            state.Output = instance.Output;
            state.CustomStatus = instance.CustomStatus;
            state.FailureDetails = instance.Failure;
        }

        return new GetInstanceResponse { Exists = true, WorkflowState = state };
    }

    /// <summary>After a commit: wake the dispatcher and everyone waiting for a status.</summary>
    private void Changed()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        Wake();
    }

    // ----- retention -------------------------------------------------------------------------------------------

    private async Task PurgeLoopAsync()
    {
        var stopping = _stopping.Token;
        while (await BackgroundLoop.WaitAsync(_options.PurgeInterval, _time, stopping).ConfigureAwait(false)
            && await BackgroundLoop.RunOnceAsync("workflow-retention", _ => PurgeExpired(), LogPurgeFailed, stopping).ConfigureAwait(false))
        {
        }
    }

    /// <summary>Purges instances that ended more than <see cref="EmbeddedWorkflowOptions.Retention"/> ago.</summary>
    internal Task PurgeExpired()
    {
        var cutoff = _time.GetUtcNow() - _options.Retention;
        var purged = _store.Run(tx =>
        {
            var ids = tx.EndedBefore(cutoff);
            foreach (var id in ids)
            {
                tx.DeleteInstance(id);
            }

            return ids.Count;
        });
        if (purged > 0)
        {
            LogPurged(purged, _options.Retention);
            Changed();
        }

        return Task.CompletedTask;
    }

    private static string Token() => Guid.NewGuid().ToString("N");

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Workflow worker connected")]
    private partial void LogWorkerConnected();

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Workflow worker disconnected; its work items go out again")]
    private partial void LogWorkerDisconnected();

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Dropped a {Kind} completion for instance {InstanceId}: its work item was already completed or dispatched again")]
    private partial void LogStaleCompletion(string instanceId, string kind);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "A {Kind} of workflow instance {InstanceId} was not answered in time; dispatching it again")]
    private partial void LogLeaseExpired(string instanceId, string kind);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Dispatching workflow work failed; trying again")]
    private partial void LogDispatchFailed(Exception error);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "Dispatching a turn of workflow instance {InstanceId} failed; the others go on, and it is tried again")]
    private partial void LogTurnDispatchFailed(string instanceId, Exception error);

    [LoggerMessage(EventId = 9, Level = LogLevel.Error, Message = "Committing a turn of workflow instance {InstanceId} failed; it is dispatched again in {Delay}")]
    private partial void LogTurnCommitFailed(string instanceId, TimeSpan delay, Exception error);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "The result of an activity of workflow {InstanceId} could not be committed; the activity is dispatched again in {Delay} (0: another copy of it is running)")]
    private partial void LogActivityCommitFailed(string instanceId, TimeSpan delay, Exception error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Purged {Count} workflow instance(s) that ended more than {Retention} ago")]
    private partial void LogPurged(int count, TimeSpan retention);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Purging expired workflow instances failed; trying again later")]
    private partial void LogPurgeFailed(Exception error);

    /// <summary>One connected worker: the items queued for its <c>GetWorkItems</c> stream.</summary>
    private sealed class WorkerStream
    {
        public Channel<WorkItem> Items { get; } = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    }

    /// <summary>A work item handed to a worker and not completed yet.</summary>
    private sealed class Lease(string token, string instanceId, string executionId, DateTimeOffset at)
    {
        public string Token { get; } = token;

        public string InstanceId { get; } = instanceId;

        public string ExecutionId { get; } = executionId;

        public DateTimeOffset At { get; } = at;

        public WorkerStream? Stream { get; set; }

        /// <summary>For an activity, its row; null for a workflow turn.</summary>
        public long? ActivitySeq { get; init; }

        /// <summary>For a turn, the inbox rows it delivers.</summary>
        public IReadOnlyList<long> InboxSeqs { get; init; } = [];

        /// <summary>For a turn, the WorkflowStarted event it began with.</summary>
        public HistoryEvent? WorkflowStarted { get; init; }
    }
}
