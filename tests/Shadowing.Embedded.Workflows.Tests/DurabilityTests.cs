using Dapr.Workflow;
using Microsoft.Extensions.Time.Testing;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Embedded.Workflows.Tests;

/// <summary>What survives a stopped host, a dropped worker stream and a slow activity.</summary>
public sealed class DurabilityTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-workflows-durable-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string StatePath => Path.Combine(_directory, "workflows.db");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task DurableTimer_FiresWhenTheBackendClockSaysSo()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(TimerWorkflow), "timer", 90);
        await WaitForStatusAsync(host, id, WorkflowRuntimeStatus.Running);

        time.Advance(TimeSpan.FromMinutes(89));
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct);
        Assert.Equal(WorkflowRuntimeStatus.Running, (await host.Client.GetWorkflowStateAsync(id, false, Ct)).RuntimeStatus);

        time.Advance(TimeSpan.FromMinutes(1));
        var state = await host.CompletionAsync(id);

        Assert.Equal("90", state.ReadOutputAs<string>()); // the workflow's clock moved 90 minutes: the backend's
    }

    [Fact]
    public async Task HostStopped_WithATimerAndAnActivityPending_ANewHostOnTheSameFileCompletesBoth()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        var first = new Probe();
        await using (var host = await WorkflowHost.StartAsync(StatePath, first, time))
        {
            await host.Client.ScheduleNewWorkflowAsync(nameof(TimerWorkflow), "waits-on-timer", 30);
            await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "waits-on-activity", "slow");
            await Eventually.WaitUntilAsync(() => first.Calls.GetValueOrDefault("slow") == 1, "the activity is running", cancellationToken: Ct);
            await WaitForStatusAsync(host, "waits-on-timer", WorkflowRuntimeStatus.Running);
        }

        // The first host is gone with the activity unfinished: its gate never opened, so it never completed.
        Assert.Equal(0, first.Completions.GetValueOrDefault("slow"));

        var second = new Probe();
        second.Gate("slow").SetResult();
        await using var restarted = await WorkflowHost.StartAsync(StatePath, second, time);
        time.Advance(TimeSpan.FromMinutes(30));

        var timer = await restarted.CompletionAsync("waits-on-timer");
        var activity = await restarted.CompletionAsync("waits-on-activity");

        Assert.Equal("30", timer.ReadOutputAs<string>());
        Assert.Equal("done:slow", activity.ReadOutputAs<string>());
        Assert.Equal(1, second.Completions["slow"]); // dispatched again and completed once
    }

    [Fact]
    public async Task SlowActivity_DoesNotHoldOtherInstances_AndActivitiesAreBounded()
    {
        var settings = new Dictionary<string, string?> { [EmbeddedWorkflowOptions.Section + ":MaxConcurrentActivities"] = "2" };
        await using var host = await WorkflowHost.StartAsync(StatePath, settings: settings);
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "slow", "slow");
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("slow") == 1, "the slow activity is running", cancellationToken: Ct);

        // Other instances keep moving through the one slot left.
        var quick = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => host.RunAsync(nameof(SequenceWorkflow), i, $"quick-{i}")));
        Assert.All(quick, s => Assert.Equal(WorkflowRuntimeStatus.Completed, s.RuntimeStatus));
        Assert.Equal(0, host.Probe.Completions.GetValueOrDefault("slow"));

        // Five more slow ones: never more than two activities run at once.
        foreach (var i in Enumerable.Range(0, 5))
        {
            await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), $"slow-{i}", $"slow-{i}");
        }

        await Eventually.WaitUntilAsync(() => host.Probe.Calls.Count(c => c.Key.StartsWith("slow-", StringComparison.Ordinal)) == 1, "one more slow activity took the free slot", cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, Ct);
        Assert.Equal(2, host.Probe.MaxRunning);
        Assert.Equal(2, host.Backend.Engine.ActivitiesInFlight);

        foreach (var key in new[] { "slow" }.Concat(Enumerable.Range(0, 5).Select(i => $"slow-{i}")))
        {
            host.Probe.Gate(key).SetResult();
        }

        foreach (var i in Enumerable.Range(0, 5))
        {
            Assert.Equal($"done:slow-{i}", (await host.CompletionAsync($"slow-{i}")).ReadOutputAs<string>());
        }

        Assert.Equal(2, host.Probe.MaxRunning);
    }

    [Fact]
    public async Task WorkerStreamDropped_WithAnActivityInFlight_ItIsDispatchedAgainOnReconnect()
    {
        await using var host = await WorkflowHost.StartAsync(StatePath);
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "dropped", "dropped");
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("dropped") == 1, "the activity is running", cancellationToken: Ct);

        host.Backend.Engine.DisconnectWorkers();

        // The worker gives work in flight a second to finish after its stream ends, then abandons it: finishing later,
        // the first run cannot report its result, so the activity goes out again when the worker reconnects. Both runs
        // wait on the gate, so it opens only once the second has started (a fixed wait raced the worker's grace period).
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("dropped") == 2, "the activity dispatched again", cancellationToken: Ct);
        host.Probe.Gate("dropped").SetResult();

        var state = await host.CompletionAsync("dropped");

        Assert.Equal("done:dropped", state.ReadOutputAs<string>());
        Assert.Equal(2, host.Probe.Calls["dropped"]); // run again after the worker reconnected (activities are at least once)
        Assert.Equal(2, host.Probe.Completions["dropped"]);
    }

    [Fact]
    public async Task ActivityUnansweredPastTheLease_IsDispatchedAgain_ButASlowProvisionIsNot()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "long", "long");
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("long") == 1, "the activity is running", cancellationToken: Ct);

        // 20 minutes: longer than a Container Apps provision may take (its Timeout is 15 min), so it is still leased.
        time.Advance(TimeSpan.FromMinutes(20));
        await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, Ct);
        Assert.Equal(1, host.Probe.Calls["long"]);

        // Past the 30 minute lease the worker is taken for stuck: the activity goes out again.
        time.Advance(TimeSpan.FromMinutes(11));
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("long") == 2, "the activity was dispatched again", cancellationToken: Ct);
        host.Probe.Gate("long").SetResult();
        Assert.Equal("done:long", (await host.CompletionAsync("long")).ReadOutputAs<string>());
    }

    [Fact]
    public async Task StuckActivity_IsTakenBackWhenItsLeaseRunsOut_ThoughTheLoopLastSleptJustBefore()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "stuck", "stuck");
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("stuck") == 1, "the activity is running", cancellationToken: Ct);

        // At 8:29 other work wakes the dispatch loop, which then sleeps again; the lease runs out at 8:30.
        time.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(WorkflowRuntimeStatus.Completed, (await host.RunAsync(nameof(SequenceWorkflow), 1)).RuntimeStatus);
        time.Advance(TimeSpan.FromMinutes(2));

        // Taken back at 8:30, not when a whole lease timeout has passed since that last sleep began (8:59).
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("stuck") == 2, "the activity was dispatched again", cancellationToken: Ct);
        host.Probe.Gate("stuck").SetResult();
        Assert.Equal("done:stuck", (await host.CompletionAsync("stuck")).ReadOutputAs<string>());
    }

    [Fact]
    public async Task EndedInstances_PurgedAfterTheRetentionPeriod()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        var settings = new Dictionary<string, string?> { [EmbeddedWorkflowOptions.Section + ":Retention"] = "1.00:00:00" };
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time, settings: settings);
        await host.RunAsync(nameof(SequenceWorkflow), 1, "old");
        var running = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "running", 0);
        await WaitForStatusAsync(host, running, WorkflowRuntimeStatus.Running);

        time.Advance(TimeSpan.FromHours(23));
        await host.Backend.Engine.PurgeExpired();
        Assert.True((await host.Client.GetWorkflowStateAsync("old", false, Ct)).Exists);

        time.Advance(TimeSpan.FromHours(2));
        await host.Backend.Engine.PurgeExpired();

        Assert.False((await host.Client.GetWorkflowStateAsync("old", false, Ct)).Exists);
        Assert.True((await host.Client.GetWorkflowStateAsync("running", false, Ct)).Exists);
    }

    [Fact]
    public async Task EventArrivedBeforeItsTimeoutFired_IsDeliveredFirst_EvenWhenBothWaitForTheWorker()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "approval", 600);
        await WaitForStatusAsync(host, id, WorkflowRuntimeStatus.Running);

        // No worker for a moment (the SDK reconnects after a few seconds): the event arrives, then the timeout is due.
        host.Backend.Engine.DisconnectWorkers();
        await Eventually.WaitUntilAsync(() => host.Backend.Engine.ConnectedWorkers == 0, "the worker is gone", cancellationToken: Ct);
        await host.Client.RaiseEventAsync(id, "approve", "in-time", Ct);
        time.Advance(TimeSpan.FromMinutes(11));

        var state = await host.CompletionAsync(id);

        // daprd appends a timer's event when it fires, after what arrived before: the approval came in time.
        Assert.Equal("approved:in-time", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task EventSentBeforeAScheduledStart_WaitsForTheStart_InsteadOfFailingTheInstance()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "later", 0, time.GetUtcNow().UtcDateTime.AddMinutes(10));

        await host.Client.RaiseEventAsync(id, "approve", "early", Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, Ct);
        Assert.Equal(WorkflowRuntimeStatus.Pending, (await host.Client.GetWorkflowStateAsync(id, false, Ct)).RuntimeStatus);

        time.Advance(TimeSpan.FromMinutes(10));
        var state = await host.CompletionAsync(id);

        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.Equal("approved:early", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task SecondBackendOnTheSameFile_RefusedAtStart_NamingTheFile()
    {
        var first = await WorkflowHost.StartAsync(StatePath);
        try
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => WorkflowHost.StartAsync(StatePath));

            var messages = string.Join(" | ", Chain(error).Select(e => e.Message));
            Assert.Contains($"The workflow state {StatePath} is in use by another process", messages, StringComparison.Ordinal);
            Assert.Equal(WorkflowRuntimeStatus.Completed, (await first.RunAsync(nameof(SequenceWorkflow), 1)).RuntimeStatus);
        }
        finally
        {
            await first.DisposeAsync();
        }

        // Once the first has stopped, the file is free for another.
        await using var next = await WorkflowHost.StartAsync(StatePath);
        Assert.Equal(WorkflowRuntimeStatus.Completed, (await next.RunAsync(nameof(SequenceWorkflow), 1)).RuntimeStatus);
    }

    [Fact]
    public void AFileThatIsNotADatabase_FailsTheStart_AndLetsGoOfItsLock()
    {
        File.WriteAllText(StatePath, "not a database, but long enough for SQLite to read a header and refuse it: " + new string('x', 200));

        Assert.ThrowsAny<Microsoft.Data.Sqlite.SqliteException>(() => new WorkflowStore(StatePath));

        // Moved aside, the path can be used at once by this same process: the failed start did not keep the lock.
        File.Delete(StatePath);
        using var store = new WorkflowStore(StatePath);
    }

    private static IEnumerable<Exception> Chain(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    [Fact]
    public async Task DispatchFailing_WhileATimerFallsDue_IsTriedAgainInASecond_NotAfterTheLease()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(TimerWorkflow), "busy", 1);
        await WaitForStatusAsync(host, id, WorkflowRuntimeStatus.Running);

        // Another writer holds the database past the store's busy timeout (5 s) as the timer falls due: that pass fails.
        using (var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={StatePath};Pooling=False"))
        {
            other.Open();
            using var hold = other.BeginTransaction(deferred: false);
            time.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(TimeSpan.FromSeconds(7), TimeProvider.System, Ct);
            hold.Rollback();
        }

        time.Advance(TimeSpan.FromSeconds(1));
        var state = await host.CompletionAsync(id);

        Assert.Equal("1", state.ReadOutputAs<string>()); // before, the next pass waited for the 30-minute lease timeout
    }

    [Fact]
    public async Task TurnThatCannotBeCommitted_IsNotRunAgainInALoop_NorRunsAnotherInstancesActivityTwice_AndGoesThroughOnceTheCauseIsGone()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "uncommittable", 0);
        await WaitForStatusAsync(host, id, WorkflowRuntimeStatus.Running);
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "bystander", "bystander");
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("bystander") == 1, "another instance's activity is running", cancellationToken: Ct);

        using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={StatePath};Pooling=False");
        other.Open();
        using (var fail = other.CreateCommand())
        {
            // Every commit of this instance's turns fails (as on a full disk, or a row the store refuses).
            fail.CommandText = "CREATE TRIGGER refuse BEFORE INSERT ON history WHEN NEW.instance_id = 'uncommittable' BEGIN SELECT RAISE(ABORT, 'refused'); END";
            fail.ExecuteNonQuery();
        }

        await host.Client.RaiseEventAsync(id, "approve", "x", Ct);
        await Eventually.WaitUntilAsync(() => host.Backend.Engine.TurnCommitFailures >= 1, "the turn's commit failed", cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System, Ct);

        // While the backend's clock stands still, the turn is not sent to the worker again (it was, without end: three
        // failures in the first second before). The failure was not answered as an error, which makes the worker drop its
        // stream and so every lease on it: the other instance's activity, still running, was dispatched a second time.
        Assert.Equal(1, host.Backend.Engine.TurnCommitFailures);
        Assert.Equal(1, host.Probe.Calls["bystander"]);
        using (var allow = other.CreateCommand())
        {
            allow.CommandText = "DROP TRIGGER refuse";
            allow.ExecuteNonQuery();
        }

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("approved:x", (await host.CompletionAsync(id)).ReadOutputAs<string>());
        host.Probe.Gate("bystander").SetResult();
        Assert.Equal("done:bystander", (await host.CompletionAsync("bystander")).ReadOutputAs<string>());
        Assert.Equal(1, host.Probe.Calls["bystander"]);
    }

    [Fact]
    public async Task ActivityResultThatCannotBeCommitted_RunsThatActivityAgainAfterABackoff_NotEveryActivityOnTheStream()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(StatePath, time: time);
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "bystander", "bystander");
        await host.Client.ScheduleNewWorkflowAsync(nameof(GatedWorkflow), "refused", "refused");
        await Eventually.WaitUntilAsync(() => host.Probe.Calls.GetValueOrDefault("bystander") == 1 && host.Probe.Calls.GetValueOrDefault("refused") == 1, "both activities running", cancellationToken: Ct);

        using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={StatePath};Pooling=False");
        other.Open();
        using (var fail = other.CreateCommand())
        {
            fail.CommandText = "CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.instance_id = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END";
            fail.ExecuteNonQuery();
        }

        host.Probe.Gate("refused").SetResult();
        await Eventually.WaitUntilAsync(() => host.Backend.Engine.ActivityCommitFailures >= 1, "the activity's result could not be committed", cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System, Ct);

        // Answered as an error, the worker dropped its stream: the other instance's activity, still running, ran again.
        Assert.Equal((1, 1), (host.Probe.Calls["bystander"], host.Probe.Calls["refused"])); // and not again in a loop while the clock stands still

        // Again after a second, failing again: the next wait is two seconds, as a turn's.
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.WaitUntilAsync(() => host.Backend.Engine.ActivityCommitFailures >= 2, "the second run's result could not be committed either", cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System, Ct);
        Assert.Equal(2, host.Probe.Calls["refused"]);
        using (var allow = other.CreateCommand())
        {
            allow.CommandText = "DROP TRIGGER refuse";
            allow.ExecuteNonQuery();
        }

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("done:refused", (await host.CompletionAsync("refused")).ReadOutputAs<string>());
        Assert.Equal(3, host.Probe.Calls["refused"]); // run again, at least once as activities are
        host.Probe.Gate("bystander").SetResult();
        Assert.Equal("done:bystander", (await host.CompletionAsync("bystander")).ReadOutputAs<string>());
        Assert.Equal(1, host.Probe.Calls["bystander"]);
    }

    [Fact]
    public async Task TurnThatCannotBeRead_HoldsNeitherTheOtherInstancesNorItsOwnOnceTheCauseIsGone()
    {
        await using var host = await WorkflowHost.StartAsync(StatePath);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "unreadable", 0);
        var second = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "other", 0);
        await WaitForStatusAsync(host, id, WorkflowRuntimeStatus.Running);
        await WaitForStatusAsync(host, second, WorkflowRuntimeStatus.Running);

        // A row that does not parse as an event: each pass that reads the instance's turn fails.
        using (var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={StatePath};Pooling=False"))
        {
            other.Open();
            using var insert = other.CreateCommand();
            insert.CommandText = "INSERT INTO inbox (instance_id, execution_id, visible_at, event) VALUES ($id, NULL, 0, x'FFFFFFFF')";
            insert.Parameters.AddWithValue("$id", id);
            insert.ExecuteNonQuery();
            await host.Client.RaiseEventAsync(id, "nudge", "x", Ct); // wakes the dispatcher

            // Another instance's event, behind the unreadable one in the dispatcher's order, still goes through.
            await host.Client.RaiseEventAsync(second, "approve", "meanwhile", Ct);
            Assert.Equal("approved:meanwhile", (await host.CompletionAsync(second)).ReadOutputAs<string>());
            using var delete = other.CreateCommand();
            delete.CommandText = "DELETE FROM inbox WHERE instance_id = $id AND event = x'FFFFFFFF'";
            delete.Parameters.AddWithValue("$id", id);
            delete.ExecuteNonQuery();
        }

        await host.Client.RaiseEventAsync(id, "approve", "after", Ct);
        var state = await host.CompletionAsync(id);

        Assert.Equal("approved:after", state.ReadOutputAs<string>()); // before, the failed pass left it marked in a turn for good
    }

    private static async Task WaitForStatusAsync(WorkflowHost host, string id, WorkflowRuntimeStatus status) =>
        await Eventually.WaitUntilAsync(async () => (await host.Client.GetWorkflowStateAsync(id, false, Ct)).RuntimeStatus == status, $"{id} is {status}", cancellationToken: Ct);
}
