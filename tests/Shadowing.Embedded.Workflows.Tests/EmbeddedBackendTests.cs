using Dapr.Workflow;
using Microsoft.Extensions.Time.Testing;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Embedded.Workflows.Tests;

/// <summary>The backend suite: the real Dapr.Workflow 1.19.0 worker and client, unchanged, on the embedded backend.</summary>
public sealed class EmbeddedBackendTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-workflows-").FullName;
    private WorkflowHost? _host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private WorkflowHost Host => _host!;

    private string StatePath => Path.Combine(_directory, "workflows.db");

    public async ValueTask InitializeAsync() => _host = await WorkflowHost.StartAsync(StatePath);

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    [Theory]
    [InlineData(null, ".shadowing/workflows.db")]
    [InlineData(".shadowing/state.db", ".shadowing/workflows.db")]
    [InlineData("/data/a.db", "/data/a.workflows.db")]
    [InlineData("/data/b.db", "/data/b.workflows.db")]
    [InlineData(":memory:", ":memory:")]
    public void WorkflowStore_BesideTheStateFile_OnePerStateFile(string? statePath, string expected) =>
        Assert.Equal(expected.Replace('/', Path.DirectorySeparatorChar), EmbeddedWorkflowsServiceCollectionExtensions.BesideStateFile(statePath));

    [Fact]
    public async Task ActivitiesInSequence_CompleteWithOutputAndCustomStatus()
    {
        var state = await Host.RunAsync(nameof(SequenceWorkflow), 10);

        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.Equal(16, state.ReadOutputAs<int>());
        Assert.Equal(10, state.ReadInputAs<int>());
        Assert.Equal(3, Host.Probe.Calls["add"]);
        var status = state.ReadCustomStatusAs<System.Text.Json.JsonElement>().GetRawText();
        Assert.Contains("\"step\":3", status, StringComparison.Ordinal);
        Assert.Contains("\"day\":\"Monday\"", status, StringComparison.Ordinal); // the product's JSON: what the status API shows
    }

    [Fact]
    public async Task HistoryOverGrpcsDefaultMessageLimit_IsRunAndRead()
    {
        // Over gRPC's default 4 MB receive limit: a turn's work item (the whole history) and the status with its input.
        var input = new string('x', 5 * 1024 * 1024);

        var state = await Host.RunAsync(nameof(LengthWorkflow), input);

        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.Equal(input.Length, state.ReadOutputAs<int>());
    }

    [Fact]
    public async Task FanOutFanIn_AllActivitiesRunAndAddUp()
    {
        var state = await Host.RunAsync(nameof(FanOutWorkflow), 20);

        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.Equal(2 * 210, state.ReadOutputAs<int>());
        Assert.Equal(20, Host.Probe.Calls["add"]);
    }

    [Fact]
    public async Task ChildWorkflow_ResultFlowsBackToTheParent()
    {
        var state = await Host.RunAsync(nameof(ParentWorkflow), 1);

        Assert.Equal(107, state.ReadOutputAs<int>());
    }

    [Fact]
    public async Task ExternalEvent_RaisedAfterTheWait_IsReceived()
    {
        var id = await Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), null, 0);
        await WaitForStatusAsync(id, WorkflowRuntimeStatus.Running);

        await Host.Client.RaiseEventAsync(id, "approve", "yes");

        var state = await Host.CompletionAsync(id);
        Assert.Equal("approved:yes", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task ExternalEvent_RaisedBeforeTheWait_IsKeptForIt()
    {
        // Raised right after scheduling: the instance has not run yet when the event arrives.
        var id = await Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), null, 30);
        await Host.Client.RaiseEventAsync(id, "approve", "early");

        var state = await Host.CompletionAsync(id);
        Assert.Equal("approved:early", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task ExternalEvent_NeverRaised_WaitTimesOut()
    {
        var state = await Host.RunAsync(nameof(EventWorkflow), 1);

        Assert.Equal("timed out", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task ActivityFailingTwice_RetriedByThePolicy_Succeeds()
    {
        var state = await Host.RunAsync(nameof(RetryWorkflow), "k1");

        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.Equal("ok:k1", state.ReadOutputAs<string>());
        Assert.Equal(3, Host.Probe.Calls["k1"]);
    }

    [Fact]
    public async Task UnhandledActivityFailure_EndsFailedWithTheError()
    {
        var state = await Host.RunAsync(nameof(FailingWorkflow), "disk full");

        Assert.Equal(WorkflowRuntimeStatus.Failed, state.RuntimeStatus);
        Assert.NotNull(state.FailureDetails);
        Assert.Contains("boom: disk full", state.FailureDetails.ErrorMessage, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(state.FailureDetails.ErrorType));
    }

    [Fact]
    public async Task ContinueAsNew_RunsNewExecutionsUntilDone()
    {
        var state = await Host.RunAsync(nameof(CountUpWorkflow), 0);

        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.Equal(3, state.ReadOutputAs<int>());
        Assert.Equal(3, Host.Probe.Calls["add"]);
    }

    [Fact]
    public async Task Terminate_EndsTerminatedWithTheGivenOutput()
    {
        var id = await Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), null, 0);
        await WaitForStatusAsync(id, WorkflowRuntimeStatus.Running);

        await Host.Client.TerminateWorkflowAsync(id, "stopped by test");

        var state = await Host.CompletionAsync(id);
        Assert.Equal(WorkflowRuntimeStatus.Terminated, state.RuntimeStatus);
        Assert.Equal("stopped by test", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task Terminate_FollowedByAnotherEventInTheSameTurn_StillEndsTerminated()
    {
        // An operator's terminate must not be lost when other events share its turn (durabletask-go enforces it there).
        // A scheduled start gathers both into the first turn: the terminate, then an event the workflow does not wait for.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await WorkflowHost.StartAsync(Path.Combine(_directory, "terminate-then-event.db"), time: time);
        var id = await host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), null, 0, time.GetUtcNow().AddMinutes(5), Ct);
        await host.Client.TerminateWorkflowAsync(id, "stopped by test", Ct);
        await host.Client.RaiseEventAsync(id, "unrelated", "x", Ct);

        time.Advance(TimeSpan.FromMinutes(5));
        var state = await host.CompletionAsync(id);

        Assert.Equal(WorkflowRuntimeStatus.Terminated, state.RuntimeStatus);
        Assert.Equal("stopped by test", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task SuspendAndResume_EventsWaitUntilResumed()
    {
        var id = await Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), null, 0);
        await WaitForStatusAsync(id, WorkflowRuntimeStatus.Running);

        await Host.Client.SuspendWorkflowAsync(id, "maintenance");
        await WaitForStatusAsync(id, WorkflowRuntimeStatus.Suspended);
        await Host.Client.RaiseEventAsync(id, "approve", "while-suspended");
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct);
        Assert.Equal(WorkflowRuntimeStatus.Suspended, (await Host.Client.GetWorkflowStateAsync(id, cancellation: Ct)).RuntimeStatus);

        await Host.Client.ResumeWorkflowAsync(id, "done");
        var state = await Host.CompletionAsync(id);

        Assert.Equal("approved:while-suspended", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task Purge_RemovesAnEndedInstance_RefusesARunningOne()
    {
        var done = await Host.RunAsync(nameof(SequenceWorkflow), 1, "purge-me");
        var running = await Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "still-running", 0);
        await WaitForStatusAsync(running, WorkflowRuntimeStatus.Running);

        Assert.Equal(WorkflowRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.True(await Host.Client.PurgeInstanceAsync("purge-me", Ct));

        Assert.False((await Host.Client.GetWorkflowStateAsync("purge-me", cancellation: Ct)).Exists);
        Assert.False(await Host.Client.PurgeInstanceAsync("never-existed", Ct));
        await Assert.ThrowsAnyAsync<Exception>(() => Host.Client.PurgeInstanceAsync(running, Ct));
        Assert.True((await Host.Client.GetWorkflowStateAsync(running, cancellation: Ct)).Exists);
    }

    [Fact]
    public async Task FiftyInstancesAtOnce_AllComplete()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Host.Client.ScheduleNewWorkflowAsync(nameof(SequenceWorkflow), $"many-{i:D2}", i)));

        var states = await Task.WhenAll(ids.Select(id => Host.CompletionAsync(id)));

        Assert.All(states.Select((s, i) => (s, i)), x => Assert.Equal(x.i + 6, x.s.ReadOutputAs<int>()));
        Assert.Equal(150, Host.Probe.Calls["add"]);
    }

    [Fact]
    public async Task GetWorkflowState_ReportsWhatDaprdReports()
    {
        var before = TimeProvider.System.GetUtcNow().AddSeconds(-1);
        var completed = await Host.RunAsync(nameof(SequenceWorkflow), 4, "state-ok");
        var failed = await Host.RunAsync(nameof(FailingWorkflow), "x", "state-failed");

        var state = await Host.Client.GetWorkflowStateAsync("state-ok", cancellation: Ct);
        var missing = await Host.Client.GetWorkflowStateAsync("state-none", cancellation: Ct);

        Assert.True(state.Exists);
        Assert.Equal(nameof(SequenceWorkflow), state.WorkflowName);
        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.InRange(state.CreatedAt, before, TimeProvider.System.GetUtcNow().AddSeconds(1));
        Assert.True(state.LastUpdatedAt >= state.CreatedAt);
        Assert.Equal(4, state.ReadInputAs<int>());
        Assert.Equal(10, state.ReadOutputAs<int>());
        Assert.NotNull(state.ReadCustomStatusAs<object>());
        Assert.Null(state.FailureDetails);
        Assert.Equal(WorkflowRuntimeStatus.Completed, completed.RuntimeStatus);
        Assert.Equal(WorkflowRuntimeStatus.Failed, failed.RuntimeStatus);
        Assert.Contains("boom", failed.FailureDetails!.ErrorMessage, StringComparison.Ordinal);
        Assert.False(missing.Exists);
    }

    [Fact]
    public async Task ReusingTheIdOfARunningInstance_IsRefused()
    {
        await Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "dup", 0);

        await Assert.ThrowsAnyAsync<Exception>(() => Host.Client.ScheduleNewWorkflowAsync(nameof(EventWorkflow), "dup", 0));
    }

    private async Task WaitForStatusAsync(string id, WorkflowRuntimeStatus status) =>
        await Eventually.WaitUntilAsync(async () => (await Host.Client.GetWorkflowStateAsync(id, false, Ct)).RuntimeStatus == status, $"{id} is {status}", cancellationToken: Ct);
}
