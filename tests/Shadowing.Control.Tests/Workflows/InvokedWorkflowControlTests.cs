using System.Text.Json;
using Dapr.Client;
using Dapr.Workflow;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Control.Workflows;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;

namespace Shadowing.Control.Tests.Workflows;

/// <summary>
/// The Functions app's path to workflow instances: service invocation through its sidecar (the fake, as daprd routes
/// <c>/v1.0/invoke/workflows/method/…</c>) to the workflows host's control routes, where the real worker runs them.
/// </summary>
public sealed class InvokedWorkflowControlTests : IAsyncLifetime
{
    private const string Token = "sidecar-token";
    private readonly InMemoryStateStore _store = new(); // shared by the workflows host and the Functions app, as deployed
    private WebApplication _workflowsHost = null!;
    private FakeDaprSidecar _sidecar = null!;
    private HttpClient _invoke = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private DaprWorkflowClient Workflows => _workflowsHost.Services.GetRequiredService<DaprWorkflowClient>();

    public async ValueTask InitializeAsync()
    {
        _workflowsHost = await ControlEndpointsTests.StartHostAsync(_store, workflowRoutesOnly: true);
        _sidecar = await FakeDaprSidecar.StartAsync(apiToken: Token);
        _sidecar.State.MapAppAt(Shadowing.Dapr.DaprAppIds.Workflows, LoopbackApp.AddressOf(_workflowsHost));
        _invoke = DaprClient.CreateInvokeHttpClient(Shadowing.Dapr.DaprAppIds.Workflows, _sidecar.HttpEndpoint, Token);
    }

    public async ValueTask DisposeAsync()
    {
        _invoke.Dispose();
        await _sidecar.DisposeAsync();
        await _workflowsHost.DisposeAsync();
    }

    [Fact]
    public async Task Get_ThroughTheSidecar_ReturnsTheInstance_AndNullForAnUnknownOne()
    {
        await Workflows.ScheduleNewWorkflowAsync("Waiting", "wf-1", "hello");
        await Workflows.WaitForWorkflowStartAsync("wf-1", cancellation: Ct);
        var control = new InvokedWorkflowControl(_invoke);

        var status = await control.GetAsync("wf-1", Ct);

        Assert.Equal(("wf-1", "Waiting", "RUNNING"), (status!.InstanceId, status.WorkflowName, status.RuntimeStatus));
        Assert.Equal("\"hello\"", status.Properties[WorkflowStatus.InputProperty]);
        Assert.Null(await control.GetAsync("nope", Ct));
        Assert.Contains(_sidecar.State.Invocations, i => i == new SidecarInvocation("workflows", "/api/workflows/wf-1"));
    }

    [Fact]
    public async Task RaiseEventAndTerminate_ReachTheInstances()
    {
        await Workflows.ScheduleNewWorkflowAsync("Waiting", "wf-2", "hello");
        await Workflows.ScheduleNewWorkflowAsync("Waiting", "wf-3", "hello");
        await Workflows.WaitForWorkflowStartAsync("wf-3", cancellation: Ct);
        var control = new InvokedWorkflowControl(_invoke);

        await control.RaiseEventAsync("wf-2", "release", JsonDocument.Parse("\"r3\"").RootElement, Ct);
        await control.TerminateAsync("wf-3", "oncall", Ct);

        Assert.Equal("released: r3", (await Workflows.WaitForWorkflowCompletionAsync("wf-2", cancellation: Ct)).ReadOutputAs<string>());
        Assert.Equal(WorkflowRuntimeStatus.Terminated, (await Workflows.WaitForWorkflowCompletionAsync("wf-3", cancellation: Ct)).RuntimeStatus);
    }

    [Fact]
    public async Task ControlApi_OverTheInvokedControl_AnswersAsOnTheWorkflowsHost()
    {
        var api = new ControlApi(new InMemoryStateStore(), Substitute.For<IEventBus>(), new InvokedWorkflowControl(_invoke), new FakeTimeProvider());

        ControlApiTests.AssertProblem(await api.GetWorkflowAsync("nope", Ct), 404, "instanceId");
        ControlApiTests.AssertProblem(await api.RaiseEventAsync("nope", "release", Stream.Null, "oncall", Ct), 404, "instanceId");
    }

    [Fact]
    public async Task ActionsThroughTheWorkflowsHost_AreAuditedOnce_ByWhoAskedTheFunctionsApp()
    {
        await Workflows.ScheduleNewWorkflowAsync("Waiting", "wf-4", "hello");
        await Workflows.WaitForWorkflowStartAsync("wf-4", cancellation: Ct);
        var functions = new ControlApi(_store, Substitute.For<IEventBus>(), new InvokedWorkflowControl(_invoke), TimeProvider.System);

        var extend = System.Text.Encoding.UTF8.GetBytes($"{{\"windowEnd\":\"{TimeProvider.System.GetUtcNow().AddHours(1):O}\"}}");
        Assert.Equal(202, (await functions.RaiseEventAsync("wf-4", "extend", new MemoryStream(extend), "alice", Ct)).Status); // nobody waits for it here: still running
        Assert.Equal(202, (await functions.TerminateAsync("wf-4", Stream.Null, "alice", Ct)).Status);

        var audit = Assert.IsAssignableFrom<IEnumerable<AuditEntry>>((await functions.GetAuditAsync(null, Ct)).Body).ToList();
        Assert.Equal([("alice", "raise-event"), ("alice", "terminate")], audit.Select(e => (e.Actor, e.Action)));
    }

    [Fact]
    public async Task InstanceEndedBetweenTheCheckAndTheRaise_TheWorkflowsHosts409IsTheCallersAnswer_NotA500()
    {
        await Workflows.ScheduleNewWorkflowAsync("Waiting", "wf-5", "hello");
        await Workflows.WaitForWorkflowStartAsync("wf-5", cancellation: Ct);
        var running = await new InvokedWorkflowControl(_invoke).GetAsync("wf-5", Ct);
        await Workflows.TerminateWorkflowAsync("wf-5", "oncall", Ct);
        await Workflows.WaitForWorkflowCompletionAsync("wf-5", cancellation: Ct);
        var control = Substitute.For<IWorkflowControl>();
        control.GetAsync("wf-5", Arg.Any<CancellationToken>()).Returns(running); // the Functions app's check saw it running
        var invoked = new InvokedWorkflowControl(_invoke);
        control.RaiseEventAsync(default!, default!, default, default).ReturnsForAnyArgs(c => invoked.RaiseEventAsync(c.ArgAt<string>(0), c.ArgAt<string>(1), c.ArgAt<JsonElement?>(2), c.ArgAt<CancellationToken>(3)));
        control.TerminateAsync(default!, default!, default).ReturnsForAnyArgs(c => invoked.TerminateAsync(c.ArgAt<string>(0), c.ArgAt<string>(1), c.ArgAt<CancellationToken>(2)));
        var functions = new ControlApi(_store, Substitute.For<IEventBus>(), control, TimeProvider.System);

        var raised = await functions.RaiseEventAsync("wf-5", "release", Stream.Null, "alice", Ct);
        var terminated = await functions.TerminateAsync("wf-5", Stream.Null, "alice", Ct);

        Assert.Equal((409, 409), (raised.Status, terminated.Status));
        Assert.Contains("has ended", Assert.IsType<ControlProblem>(raised.Body).Detail, StringComparison.Ordinal);
        Assert.Empty(Assert.IsAssignableFrom<IEnumerable<AuditEntry>>((await functions.GetAuditAsync(null, Ct)).Body));
    }

    [Fact]
    public async Task A404ThatIsNotTheWorkflowsHostsAnswer_IsAnError_NotAMissingInstance()
    {
        _sidecar.State.MapApp(Shadowing.Dapr.DaprAppIds.Workflows, (context, _) =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound; // an app without the control routes (a wrong WorkflowsAppId)
            return Task.CompletedTask;
        });

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => new InvokedWorkflowControl(_invoke).GetAsync("wf-9", Ct));

        Assert.Contains("404", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkflowsHostAnsweringAnError_IsAnExceptionNamingTheStatus()
    {
        _sidecar.State.MapApp(Shadowing.Dapr.DaprAppIds.Workflows, (context, _) =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => new InvokedWorkflowControl(_invoke).GetAsync("wf-9", Ct));

        Assert.Contains("503", error.Message, StringComparison.Ordinal);
    }
}
