using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Control.Workflows;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Data;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Planning;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Control.Tests;

/// <summary>The handlers on their own: a store, a substitute bus and a substitute workflow control.</summary>
public sealed class ControlApiTests
{
    /// <summary>A reason one character over <see cref="ControlApi.MaxReasonLength"/>.</summary>
    private const string Over500 = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

    private static readonly DateTimeOffset Now = new(2026, 12, 2, 11, 30, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly IWorkflowControl _workflows = Substitute.For<IWorkflowControl>();
    private readonly FakeTimeProvider _time = new(Now);

    private ControlApi Api => new(_store, _bus, _workflows, _time);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("has space")]
    [InlineData("has.dot")]
    [InlineData("a123456789b123456789c123456789d123456789e123456789f123456789abcde")] // 65 characters
    public async Task GetWorkflow_InvalidId_Is400NamingInstanceId_WithoutAskingTheEngine(string id)
    {
        var result = await Api.GetWorkflowAsync(id, Ct);

        AssertProblem(result, 400, "instanceId");
        await _workflows.DidNotReceiveWithAnyArgs().GetAsync(default!, default);
    }

    [Fact]
    public async Task GetWorkflow_Unknown_Is404()
    {
        AssertProblem(await Api.GetWorkflowAsync("shadows-orders-x", Ct), 404, "instanceId");
    }

    [Fact]
    public async Task RaiseEvent_RunningInstance_PassesThePayloadAndAnswers202()
    {
        Running("wf-1");

        var result = await Api.RaiseEventAsync("wf-1", "extend", Body("{\"windowEnd\":\"2026-12-02T15:00:00Z\"}"), "oncall", Ct);

        Assert.Equal(202, result.Status);
        await _workflows.Received(1).RaiseEventAsync("wf-1", "extend", Arg.Is<JsonElement?>(p => p!.Value.GetProperty("windowEnd").GetDateTimeOffset() == new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero)), Arg.Any<CancellationToken>());
    }

    [Theory]
    [InlineData("verdict", "{\"shadowId\":\"s1\",\"check\":{\"verdict\":\"Fail\",\"reasons\":[],\"judgedAt\":\"2026-12-02T11:00:00Z\"}}", "name")]
    [InlineData("resize", "{\"count\":-1}", "count")]
    [InlineData("resize", "{\"count\":500}", "count")]
    [InlineData("resize", "{}", "body")]
    [InlineData("resize", "{\"resources\":{\"size\":0,\"addedLatencyMs\":0,\"errorRate\":0}}", "resources.size")]
    [InlineData("resize", "{\"resources\":{\"size\":1,\"addedLatencyMs\":0,\"errorRate\":2}}", "resources.errorRate")]
    [InlineData("resize", "{\"resources\":{\"errorRate\":0.2}}", "resources.size")] // a resize would reset the size it leaves out
    [InlineData("resize", "{\"resources\":{\"size\":2,\"errorRate\":0.2}}", "resources.addedLatencyMs")]
    [InlineData("resize", "{\"resources\":{\"cpu\":2}}", "resources.cpu")]
    [InlineData("extend", "{}", "windowEnd")]
    [InlineData("extend", "{\"windowEnd\":\"2026-12-02T11:00:00Z\"}", "windowEnd")] // before now
    [InlineData("extend", "{\"windowEnd\":\"2099-01-01T00:00:00Z\"}", "windowEnd")]
    [InlineData("extend", "{\"windowEnd\":\"2026-12-02T15:00:00Z\",\"count\":2}", "count")]
    [InlineData("release", "{\"reason\":\"x\"}", "body")]
    [InlineData("release", "\"" + Over500 + "\"", "body")] // kept in the workflow's history and output: bounded as terminate's reason
    [InlineData("Verdict", "{\"shadowId\":\"s1\",\"check\":{\"verdict\":\"Fail\",\"reasons\":[],\"judgedAt\":\"2026-12-02T11:00:00Z\"}}", "name")] // the worker matches names whatever their case
    [InlineData("EXTEND", "{\"windowEnd\":\"2099-01-01T00:00:00Z\"}", "windowEnd")]
    [InlineData("Release", "{\"reason\":\"x\"}", "body")]
    [InlineData("relase", "\"x\"", "name")] // a name nobody waits for would do nothing, and be audited as done
    public async Task RaiseEvent_PayloadTheLifecycleCannotTake_Is400NamingTheField_AndNothingIsRaised(string name, string body, string field)
    {
        Running("wf-1");

        AssertProblem(await Api.RaiseEventAsync("wf-1", name, Body(body), "oncall", Ct), 400, field);
        await _workflows.DidNotReceiveWithAnyArgs().RaiseEventAsync(default!, default!, default, default);
    }

    [Theory]
    [InlineData("{}", "is required")]
    [InlineData("{\"windowEnd\":\"soon\"}", "is not a timestamp")]
    [InlineData("{\"windowEnd\":\"2026-12-02T11:00:00Z\"}", "is not after now")]
    [InlineData("{\"windowEnd\":\"2099-01-01T00:00:00Z\"}", "is more than")]
    public async Task RaiseEvent_ExtendsBadWindowEnd_SaysWhatIsWrongWithIt(string body, string said)
    {
        Running("wf-1");

        var problem = Assert.IsType<ControlProblem>((await Api.RaiseEventAsync("wf-1", "extend", Body(body), "oncall", Ct)).Body);

        Assert.StartsWith(said, problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RaiseEvent_ANameInAnotherCase_IsCheckedAndPassedOnAsTheLifecycleNamesIt()
    {
        Running("wf-1");

        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "Release", Body("\"done\""), "oncall", Ct)).Status);

        await _workflows.Received(1).RaiseEventAsync("wf-1", "release", Arg.Any<JsonElement?>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RaiseEvent_ResizeAndRelease_PassedOnAsTheLifecycleReadsThem()
    {
        Running("wf-1");

        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "resize", Body("{\"count\":2,\"resources\":{\"size\":3,\"addedLatencyMs\":0,\"errorRate\":0}}"), "oncall", Ct)).Status);
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "release", Body("\"done\""), "oncall", Ct)).Status);
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "release", Body(string.Empty), "oncall", Ct)).Status);

        // The lifecycle reads the payload with the web defaults as ResizeEvent(Count, Resources(Size, AddedLatencyMs, ErrorRate)).
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        await _workflows.Received(1).RaiseEventAsync("wf-1", "resize", Arg.Is<JsonElement?>(p => p!.Value.GetProperty("count").GetInt32() == 2 && p.Value.GetProperty("resources").Deserialize<ShadowResources>(options) == new ShadowResources(3, 0, 0)), Arg.Any<CancellationToken>());
        await _workflows.Received(1).RaiseEventAsync("wf-1", "release", Arg.Is<JsonElement?>(p => p != null && p.Value.GetString() == "done"), Arg.Any<CancellationToken>());
        await _workflows.Received(1).RaiseEventAsync("wf-1", "release", null, Arg.Any<CancellationToken>());

        // The resize is an operator's override, kept for the intake; a release closes the request, and leaves the resize as it was.
        var manual = (await _store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride("wf-1"), Ct))!.Value;
        Assert.Equal(("resize", "oncall", Now, 2, (DateTimeOffset?)null, (DateTimeOffset?)Now), (manual.Event, manual.By, manual.At, manual.Count, manual.WindowEnd, manual.ReleasedAt));
        Assert.Null(await _store.GetAsync(StateKeys.ShadowOverride("wf-2"), Ct));
    }

    [Fact]
    public async Task RaiseEvent_ExtendAfterResize_TheOverrideKeepsBothTheCountAndTheEnd_ForTheIntakeToRecord()
    {
        Running("wf-1");

        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "resize", Body("{\"count\":3}"), "oncall", Ct)).Status);
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "extend", Body($"{{\"windowEnd\":\"{Now.AddHours(4):O}\"}}"), "lead", Ct)).Status);

        var manual = (await _store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride("wf-1"), Ct))!.Value;
        Assert.Equal(("extend", "lead", 3, (DateTimeOffset?)Now.AddHours(4)), (manual.Event, manual.By, manual.Count, manual.WindowEnd));
    }

    [Fact]
    public async Task RaiseEvent_AResizeThatDoesNotReachTheWorkflow_RecordsNoCount_TheEarlierOverrideStands()
    {
        Running("wf-1");
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "extend", Body($"{{\"windowEnd\":\"{Now.AddHours(4):O}\"}}"), "lead", Ct)).Status);
        _workflows.RaiseEventAsync("wf-1", "resize", Arg.Any<JsonElement?>(), Arg.Any<CancellationToken>()).Returns(Task.FromException(new HttpRequestException("connection refused")));

        Assert.Equal(502, (await Api.RaiseEventAsync("wf-1", "resize", Body("{\"count\":10}"), "oncall", Ct)).Status);

        // Ten shadows recorded would be charged and counted against the caps while the two it has run on.
        var manual = (await _store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride("wf-1"), Ct))!.Value;
        Assert.Equal(("extend", "lead", (int?)null, (DateTimeOffset?)Now.AddHours(4)), (manual.Event, manual.By, manual.Count, manual.WindowEnd));
    }

    [Fact]
    public async Task RaiseEvent_AFirstOverrideThatDoesNotReachTheWorkflow_LeavesNoMark()
    {
        // Left, the mark would keep the intake from growing a workflow no operator changed.
        Running("wf-1");
        _workflows.RaiseEventAsync("wf-1", "extend", Arg.Any<JsonElement?>(), Arg.Any<CancellationToken>()).Returns(Task.FromException(new HttpRequestException("connection refused")));

        Assert.Equal(502, (await Api.RaiseEventAsync("wf-1", "extend", Body($"{{\"windowEnd\":\"{Now.AddHours(4):O}\"}}"), "lead", Ct)).Status);

        Assert.Null(await _store.GetAsync(StateKeys.ShadowOverride("wf-1"), Ct));
    }

    [Theory]
    [InlineData("{\"count\":0}")]
    [InlineData("{\"resources\":{\"size\":2,\"addedLatencyMs\":10,\"errorRate\":0}}")]
    public async Task RaiseEvent_ResizeWithOneField_PassesOnAPayloadTheWorkflowsHostAcceptsAgain(string body)
    {
        Running("wf-1");
        JsonElement? forwarded = null;
        _workflows.When(w => w.RaiseEventAsync("wf-1", "resize", Arg.Any<JsonElement?>(), Arg.Any<CancellationToken>())).Do(c => forwarded ??= c.ArgAt<JsonElement?>(2));

        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "resize", Body(body), "oncall", Ct)).Status);

        // The Functions app forwards what it checked to the workflows host, whose control routes check it again.
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "resize", Body(forwarded!.Value.GetRawText()), actor: null, Ct)).Status);

        // An override of the count only: new resources alone leave the count and window to the intake.
        Assert.Equal(body.Contains("count", StringComparison.Ordinal), await _store.GetAsync(StateKeys.ShadowOverride("wf-1"), Ct) is not null);
    }

    [Fact]
    public async Task RaiseEvent_BodyNotJson_Is400NamingTheBody()
    {
        Running("wf-1");

        AssertProblem(await Api.RaiseEventAsync("wf-1", "extend", Body("{not json"), "oncall", Ct), 400, "body");
        await _workflows.DidNotReceiveWithAnyArgs().RaiseEventAsync(default!, default!, default, default);
    }

    [Fact]
    public async Task Bodies_NotValidUtf8_Are400NamingTheBody_NotA500()
    {
        Running("wf-1");
        byte[] bad = [(byte)'{', (byte)'"', 0xff, (byte)'"', (byte)':', (byte)'1', (byte)'}'];

        AssertProblem(await Api.TerminateAsync("wf-1", new MemoryStream(bad), "oncall", Ct), 400, "body");
        AssertProblem(await Api.StartShadowsAsync("orders", new MemoryStream(bad), "oncall", Ct), 400, "body");
        await _workflows.DidNotReceiveWithAnyArgs().TerminateAsync(default!, default!, default);
    }

    [Fact]
    public async Task RaiseEvent_BadEventName_Is400NamingName()
    {
        AssertProblem(await Api.RaiseEventAsync("wf-1", "a/b", Body(string.Empty), "oncall", Ct), 400, "name");
    }

    [Fact]
    public async Task RaiseEventAndTerminate_EndedInstance_Are409_AndNothingIsSent()
    {
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Status("wf-1", "COMPLETED"));

        Assert.Equal(409, (await Api.RaiseEventAsync("wf-1", "extend", Body("{\"windowEnd\":\"2026-12-02T15:00:00Z\"}"), "oncall", Ct)).Status);
        Assert.Equal(409, (await Api.TerminateAsync("wf-1", Body(string.Empty), "oncall", Ct)).Status);
        await _workflows.DidNotReceiveWithAnyArgs().TerminateAsync(default!, default!, default);
    }

    [Fact]
    public async Task Terminate_WithReason_TerminatesWithIt_UnknownFieldIs400()
    {
        Running("wf-1");

        AssertProblem(await Api.TerminateAsync("wf-1", Body("{\"reasn\":\"x\"}"), "oncall", Ct), 400, "reasn");
        Assert.Equal(202, (await Api.TerminateAsync("wf-1", Body("{\"reason\":\"oncall: bad shadow\"}"), "oncall", Ct)).Status);
        await _workflows.Received(1).TerminateAsync("wf-1", "oncall: bad shadow", Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task GetTraffic_SumsTheLastMinutesByRole_AcrossEndpointsAndDays()
    {
        // Now is 11:30: the default window is 09:30 up to (not including) 11:30.
        await Day("orders-1", EndpointRole.Production, (Now.AddMinutes(-1), 10, 1), (Now.AddMinutes(-2), 12, 0), (Now, 99, 0), (Now.AddMinutes(-121), 99, 0));
        await Day("orders-2", EndpointRole.Production, (Now.AddMinutes(-1), 5, 0));
        await Day("s1", EndpointRole.Shadow, (Now.AddMinutes(-1), 3, 2));
        await Day("orders-default", EndpointRole.Default, (Now.AddMinutes(-2), 1, 0));
        await Day("orders-1", EndpointRole.Production, (Now.AddDays(-1), 7, 0)); // yesterday's record is not read

        var result = await Api.GetTrafficAsync("orders", null, Ct);

        Assert.Equal(200, result.Status);
        var traffic = Assert.IsType<ServiceTraffic>(result.Body);
        Assert.Equal(Now.AddMinutes(-120), traffic.From);
        Assert.Equal(Now, traffic.To);
        Assert.Equal(
            [new TrafficMinute(Now.AddMinutes(-2), 12, 0, 1, 0), new TrafficMinute(Now.AddMinutes(-1), 15, 3, 0, 3)],
            traffic.Minutes);
        Assert.Equal([new TrafficMinute(Now.AddMinutes(-1), 15, 3, 0, 3)], ((ServiceTraffic)(await Api.GetTrafficAsync("orders", "1", Ct)).Body!).Minutes);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1441")]
    [InlineData("-5")]
    [InlineData("ten")]
    public async Task GetTraffic_BadMinutes_Is400NamingMinutes(string minutes)
    {
        AssertProblem(await Api.GetTrafficAsync("orders", minutes, Ct), 400, "minutes");
        AssertProblem(await Api.GetTrafficAsync("a b", null, Ct), 400, "service");
    }

    [Fact]
    public async Task GetService_NothingStored_Is404_BadName400()
    {
        AssertProblem(await Api.GetServiceAsync("payments", Ct), 404, "service");
        AssertProblem(await Api.GetServiceAsync("a b", Ct), 400, "service");
    }

    [Fact]
    public async Task GetService_ShowsShadowPhasesVerdictsAndOpenRequestsWithTheirWorkflowPhase()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders() with
        {
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed, Owner = "wf-1", StateChangedAt = Now }],
        }, cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.Verdict("orders", "s1"), new ShadowVerdict
        {
            Service = "orders", Shadow = "s1", Verdict = Verdict.Pass, Reasons = ["latency within 5 %"], Metrics = [], From = Now.AddMinutes(-10), To = Now, JudgedAt = Now,
        }, cancellationToken: Ct);
        var open = Request(Now.AddHours(1));
        var ended = Request(Now.AddHours(-3));
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + open.Id, open, cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + ended.Id, ended, cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.ShadowPlan(open.Id), new ShadowPlan
        {
            RequestId = open.Id, Service = "orders", Count = 1, WindowStart = open.WindowStart, WindowEnd = open.WindowEnd, Decision = ShadowPlanDecision.Admitted,
            Reason = "test", EndpointHours = 1, InstanceId = "wf-1", DecidedAt = Now,
        }, cancellationToken: Ct);
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Status("wf-1", "RUNNING", customStatus: "{\"phase\":\"Holding\",\"shadows\":[]}"));
        await _store.SaveJsonAsync(StateKeys.ShadowSyncRecord("orders", "s1"), new ShadowSyncRecord("time-shifted", "12 change(s) applied", Now.AddMinutes(-1), 3600), cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.ShadowSync("orders", "s1"), new SyncWatermark { Sequence = 40, Applied = 12, ShippedBytes = 900, UpdatedAt = Now.AddMinutes(-1), Behind = Now.AddMinutes(-65) }, cancellationToken: Ct);

        var result = await Api.GetServiceAsync("orders", Ct);

        Assert.Equal(200, result.Status);
        Assert.NotNull(result.ETag);
        var status = Assert.IsType<ServiceStatus>(result.Body);
        var shadow = Assert.Single(status.Shadows);
        Assert.Equal(("s1", ShadowState.PreWarmed, Verdict.Pass, "wf-1"), (shadow.Id, shadow.Phase, shadow.Verdict!.Value, shadow.Owner));
        Assert.Equal("time-shifted", shadow.Data!.Mode);
        Assert.Equal(65 * 60, shadow.DataLagSeconds); // now, from the watermark: the oldest change it lacks is 65 minutes old
        var request = Assert.Single(status.Requests); // the ended one is not open
        Assert.Equal(open.Id, request.Request.Id);
        Assert.Equal(new WorkflowSummary("wf-1", "RUNNING", "Holding"), request.Workflow);

        // The workflows app down (the Functions app asks it over service invocation): the status is still served.
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Task.FromException<WorkflowStatus?>(new HttpRequestException("The workflows app answered 500 Internal Server Error")));
        var degraded = await Api.GetServiceAsync("orders", Ct);
        Assert.Equal(200, degraded.Status);
        Assert.Equal(new WorkflowSummary("wf-1", "UNKNOWN", null, "The workflows app answered 500 Internal Server Error"), Assert.Single(Assert.IsType<ServiceStatus>(degraded.Body).Requests).Workflow);
        Assert.Equal(ShadowState.PreWarmed, Assert.Single(Assert.IsType<ServiceStatus>(degraded.Body).Shadows).Phase);

        // The workflows app hung: each instance's state is given up after a few seconds, not the invoke client's 100.
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(c => NeverAnswers(c.Arg<CancellationToken>()));
        var hung = Api.GetServiceAsync("orders", Ct);
        await Eventually.WaitUntilAsync(() => _workflows.ReceivedCalls().Count(c => c.GetMethodInfo().Name == nameof(IWorkflowControl.GetAsync)) >= 3, "the status reads the instance", cancellationToken: Ct);
        _time.Advance(ControlOptions.DefaultWorkflowStatusTimeout);
        var slow = await hung.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(new WorkflowSummary("wf-1", "UNKNOWN", null, "the workflows app did not answer within 5 s"), Assert.Single(Assert.IsType<ServiceStatus>(slow.Body).Requests).Workflow);
    }

    [Fact]
    public async Task GetService_ASyncThatKeepsFailing_ShowsTheLagFromItsLastSuccess()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders() with
        {
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed, Owner = "wf-1", StateChangedAt = Now }],
        }, cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.ShadowSync("orders", "s1"), new SyncWatermark { Sequence = 40, Applied = 12, ShippedBytes = 900, UpdatedAt = Now.AddHours(-2) }, cancellationToken: Ct); // caught up then
        await _store.SaveJsonAsync(StateKeys.ShadowSyncRecord("orders", "s1"), new ShadowSyncRecord("differential", "failing since …: the store is down", Now.AddHours(-2), 0, FailingSince: Now.AddHours(-2).AddMinutes(1)), cancellationToken: Ct);

        var shadow = Assert.Single(Assert.IsType<ServiceStatus>((await Api.GetServiceAsync("orders", Ct)).Body).Shadows);

        Assert.Equal(2 * 3600, shadow.DataLagSeconds);
    }

    [Fact]
    public async Task GetService_WorkflowsAppHung_ManyOpenRequestsCostOneWait_NotOneEach()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        for (var i = 1; i <= 3; i++)
        {
            var open = Request(Now.AddDays(i));
            await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + open.Id, open, cancellationToken: Ct);
            await _store.SaveJsonAsync(StateKeys.ShadowPlan(open.Id), new ShadowPlan
            {
                RequestId = open.Id, Service = "orders", Count = 1, WindowStart = open.WindowStart, WindowEnd = open.WindowEnd, Decision = ShadowPlanDecision.Admitted,
                Reason = "test", EndpointHours = 1, InstanceId = $"wf-{i}", DecidedAt = Now,
            }, cancellationToken: Ct);
        }

        _workflows.GetAsync(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(c => NeverAnswers(c.Arg<CancellationToken>()));

        var hung = Api.GetServiceAsync("orders", Ct);
        await Eventually.WaitUntilAsync(() => _workflows.ReceivedCalls().Count(c => c.GetMethodInfo().Name == nameof(IWorkflowControl.GetAsync)) == 3, "the status asks for every instance at once", cancellationToken: Ct);
        _time.Advance(ControlOptions.DefaultWorkflowStatusTimeout);
        var slow = await hung.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(["wf-1", "wf-2", "wf-3"], Assert.IsType<ServiceStatus>(slow.Body).Requests.Select(r => r.Workflow!.InstanceId).Order());
        Assert.All(Assert.IsType<ServiceStatus>(slow.Body).Requests, r => Assert.Equal("UNKNOWN", r.Workflow!.RuntimeStatus));
    }

    [Fact]
    public async Task WorkflowRoutes_WorkflowsAppUnreachable_Are502SayingSo_NotAnEmpty500()
    {
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Task.FromException<WorkflowStatus?>(new HttpRequestException("Connection refused (127.0.0.1:3501)")));

        var get = await Api.GetWorkflowAsync("wf-1", Ct);
        var raise = await Api.RaiseEventAsync("wf-1", "release", Body(string.Empty), "oncall", Ct);
        var terminate = await Api.TerminateAsync("wf-1", Body(string.Empty), "oncall", Ct);

        foreach (var result in new[] { get, raise, terminate })
        {
            Assert.Equal(502, result.Status);
            Assert.Equal("The workflows app could not be reached: Connection refused (127.0.0.1:3501)", Assert.IsType<ControlProblem>(result.Body).Detail);
        }
    }

    [Fact]
    public async Task GetService_WaitsForAHungWorkflowsAppAsLongAsConfigured()
    {
        // The demo's clock runs 720 times real time: it scales the wait, or 5 s would be 7 ms of real time.
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        var open = Request(Now.AddHours(1));
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + open.Id, open, cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.ShadowPlan(open.Id), new ShadowPlan
        {
            RequestId = open.Id, Service = "orders", Count = 1, WindowStart = open.WindowStart, WindowEnd = open.WindowEnd, Decision = ShadowPlanDecision.Admitted,
            Reason = "test", EndpointHours = 1, InstanceId = "wf-1", DecidedAt = Now,
        }, cancellationToken: Ct);
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(c => NeverAnswers(c.Arg<CancellationToken>()));
        var api = new ControlApi(_store, _bus, _workflows, _time, Options.Create(new ControlOptions { WorkflowStatusTimeout = TimeSpan.FromHours(1) }));

        var hung = api.GetServiceAsync("orders", Ct);
        await Eventually.WaitUntilAsync(() => _workflows.ReceivedCalls().Any(c => c.GetMethodInfo().Name == nameof(IWorkflowControl.GetAsync)), "the status reads the instance", cancellationToken: Ct);
        _time.Advance(ControlOptions.DefaultWorkflowStatusTimeout);
        await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, Ct);
        Assert.False(hung.IsCompleted, "the status gave up before its configured wait");
        _time.Advance(TimeSpan.FromHours(1));
        var slow = await hung.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(new WorkflowSummary("wf-1", "UNKNOWN", null, "the workflows app did not answer within 1 h"), Assert.Single(Assert.IsType<ServiceStatus>(slow.Body).Requests).Workflow);
    }

    private static Task<WorkflowStatus?> NeverAnswers(CancellationToken cancellationToken)
    {
        var answer = new TaskCompletionSource<WorkflowStatus?>(TaskCreationOptions.RunContinuationsAsynchronously);
        // As the workflow client's gRPC call reports it: an RpcException, not an OperationCanceledException.
        cancellationToken.Register(() => answer.TrySetException(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Cancelled, "Call canceled by the client."))));
        return answer.Task;
    }

    [Fact]
    public async Task StartShadows_EmptyBody_StoresAndPublishesOneShadowForAnHourFromNow()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);

        var result = await Api.StartShadowsAsync("orders", Body(string.Empty), "oncall", Ct);

        Assert.Equal(202, result.Status);
        var accepted = Assert.IsType<ShadowRequestAccepted>(result.Body);
        Assert.Equal((1, Now, Now.AddHours(1), ShadowRequestKind.Manual), (accepted.Request.Count, accepted.Request.WindowStart, accepted.Request.WindowEnd, accepted.Request.Kinds.Single()));
        Assert.Equal(Now.AddHours(1), accepted.Request.ManualUntil); // a demand window merged in later ends no earlier
        Assert.NotNull(await _store.GetAsync(StateKeys.ShadowRequestsPrefix + accepted.RequestId, Ct));
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, Arg.Is<ShadowRequest>(r => r.Id == accepted.RequestId), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task StartShadows_CoveredUnchanged_Is200WithANote_CoveredByATerminatedWorkflow_Is409()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        var first = Assert.IsType<ShadowRequestAccepted>((await Api.StartShadowsAsync("orders", Body("{\"count\":2}"), "oncall", Ct)).Body);
        _time.Advance(TimeSpan.FromSeconds(20)); // a retry later in the same minute asks for the same window

        var again = await Api.StartShadowsAsync("orders", Body("{\"count\":1}"), "oncall", Ct);

        Assert.Equal(200, again.Status);
        Assert.Contains($"request {first.RequestId} already covers this window", Assert.IsType<ShadowRequestAccepted>(again.Body).Note, StringComparison.Ordinal);

        // The intake admitted it; an operator then terminated its workflow: a request for the same window runs nothing.
        await _store.SaveJsonAsync(StateKeys.ShadowPlan(first.RequestId), new ShadowPlan
        {
            RequestId = first.RequestId, Service = "orders", Count = 2, WindowStart = Now, WindowEnd = Now.AddHours(1), Decision = ShadowPlanDecision.Admitted,
            Reason = "test", EndpointHours = 2, InstanceId = "wf-1", DecidedAt = Now,
        }, cancellationToken: Ct);
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Status("wf-1", "TERMINATED"));

        var refused = await Api.StartShadowsAsync("orders", Body("{\"count\":3}"), "oncall", Ct);

        Assert.Equal(409, refused.Status);
        Assert.Contains("its workflow wf-1 has ended TERMINATED", Assert.IsType<ControlProblem>(refused.Body).Detail, StringComparison.Ordinal);
        Assert.Equal(2, (await _store.GetJsonAsync<ShadowRequest>(StateKeys.ShadowRequestsPrefix + first.RequestId, Ct))!.Value.Count); // refused before anything was stored

        // Its state cannot be read (the workflows app down): not accepted unchecked, where it could merge into an ended one.
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Task.FromException<WorkflowStatus?>(new HttpRequestException("The workflows app answered 500 Internal Server Error")));
        var unknown = await Api.StartShadowsAsync("orders", Body("{\"count\":3}"), "oncall", Ct);
        Assert.Equal(503, unknown.Status);
        Assert.Contains("the state of its workflow wf-1 cannot be read (The workflows app answered 500", Assert.IsType<ControlProblem>(unknown.Body).Detail, StringComparison.Ordinal);
        Assert.Equal(2, (await _store.GetJsonAsync<ShadowRequest>(StateKeys.ShadowRequestsPrefix + first.RequestId, Ct))!.Value.Count);

        // Refused by the guard rails: a request that changes nothing gets the refusal, not a 200.
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns((WorkflowStatus?)null);
        await _store.SaveJsonAsync(StateKeys.ShadowPlan(first.RequestId), new ShadowPlan
        {
            RequestId = first.RequestId, Service = "orders", Count = 2, WindowStart = Now, WindowEnd = Now.AddHours(1), Decision = ShadowPlanDecision.Refused,
            Reason = "Refused: the kill switch is engaged", EndpointHours = 0, DecidedAt = Now,
        }, cancellationToken: Ct);
        var stillRefused = await Api.StartShadowsAsync("orders", Body("{\"count\":1}"), "oncall", Ct);
        Assert.Equal(409, stillRefused.Status);
        Assert.Contains("was refused: Refused: the kill switch is engaged", Assert.IsType<ControlProblem>(stillRefused.Body).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartShadows_CoveredByAWorkflowReleasedByHand_IsStoredOnItsOwnAndRuns()
    {
        // An operator booked 11:30-13:30 and released it through this API at 11:40; at 11:50 they (or the PAE) ask again:
        // the released request is closed, so the new one is not merged into a workflow that has ended.
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        var booked = await AdmittedAsync(Now, TimeSpan.FromHours(2), 2, ShadowRequestKind.Manual); // its workflow wf-1
        Running("wf-1");
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "release", Body(string.Empty), "oncall", Ct)).Status);
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Status("wf-1", "COMPLETED"));
        _time.Advance(TimeSpan.FromMinutes(10));

        var result = await Api.StartShadowsAsync("orders", Body(string.Empty), "oncall", Ct);

        Assert.Equal(202, result.Status);
        var stored = await new ShadowRequestStore(_store, _bus).ListAsync("orders", Ct);
        Assert.Equal([(Now, Now.AddHours(2)), (Now.AddMinutes(20), Now.AddMinutes(80))], stored.Select(r => (r.WindowStart, r.WindowEnd)).Order());
        Assert.Equal(Now.AddMinutes(10), (await _store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride("wf-1"), Ct))!.Value.ReleasedAt);
    }

    [Fact]
    public async Task StartShadows_TheSameStartAsARequestReleasedByHand_Is409_NotMergedIntoIt()
    {
        // Booked for 13:00, released by hand, booked again for 13:00: requests are keyed by their start's minute, so this
        // one would be the released one, which never runs again.
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        var start = Now.AddMinutes(90);
        await AdmittedAsync(start, TimeSpan.FromHours(2), 1, ShadowRequestKind.Manual); // its workflow wf-1
        Running("wf-1");
        Assert.Equal(202, (await Api.RaiseEventAsync("wf-1", "release", Body(string.Empty), "oncall", Ct)).Status);
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Status("wf-1", "COMPLETED"));

        var again = await Api.StartShadowsAsync("orders", Body($"{{\"start\":\"{start:O}\",\"duration\":\"1h\"}}"), "oncall", Ct);

        Assert.Equal(409, again.Status);
        Assert.Contains("released by hand", Assert.IsType<ControlProblem>(again.Body).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartShadows_CoveredByACompletedWorkflow_Is409_EvenWhenItAddsItsKindToTheRequest()
    {
        // The PAE's request for 11:30-13:30 ran and completed (no shadow passed validation); an operator's request inside
        // it only adds "Manual" to its kinds, which the intake does not run again for.
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        await AdmittedAsync(Now, TimeSpan.FromHours(2), 2, ShadowRequestKind.Demand); // its workflow wf-1
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(Status("wf-1", "COMPLETED"));

        var result = await Api.StartShadowsAsync("orders", Body(string.Empty), "oncall", Ct);
        var more = await Api.StartShadowsAsync("orders", Body("{\"count\":3}"), "oncall", Ct); // the intake resumes only past the end it ran to

        Assert.Equal((409, 409), (result.Status, more.Status));
        Assert.Contains("its workflow wf-1 has completed", Assert.IsType<ControlProblem>(result.Body).Detail, StringComparison.Ordinal);
        Assert.Equal(202, (await Api.StartShadowsAsync("orders", Body("{\"duration\":\"3h\"}"), "oncall", Ct)).Status); // past its end
    }

    [Fact]
    public async Task StartShadows_CoveredByAnOperatorsRequestThatStartsLater_Is409_NotAnswered200()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        var later = Assert.IsType<ShadowRequestAccepted>((await Api.StartShadowsAsync("orders", Body("{\"start\":\"2026-12-02T14:00:00Z\",\"duration\":\"1h\"}"), "oncall", Ct)).Body);

        var now = await Api.StartShadowsAsync("orders", Body("{\"duration\":\"3h\"}"), "oncall", Ct);

        Assert.Equal(409, now.Status);
        Assert.Contains($"Request {later.RequestId} covers this window from 2026-12-02 14:00:00Z and waits for it", Assert.IsType<ControlProblem>(now.Body).Detail, StringComparison.Ordinal);
        Assert.Equal(202, (await Api.StartShadowsAsync("orders", Body("{\"duration\":\"2h\"}"), "oncall", Ct)).Status); // ending before it
    }

    [Fact]
    public async Task StartShadows_Body_SetsCountWindowAndReason()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);

        var result = await Api.StartShadowsAsync("orders", Body("{\"count\":2,\"start\":\"2026-12-02T14:00:00Z\",\"duration\":\"2h\",\"reason\":\"launch\"}"), "oncall", Ct);

        var request = Assert.IsType<ShadowRequestAccepted>(result.Body).Request;
        Assert.Equal((2, new DateTimeOffset(2026, 12, 2, 14, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 2, 16, 0, 0, TimeSpan.Zero), "launch"), (request.Count, request.WindowStart, request.WindowEnd, request.Reason));
    }

    [Theory]
    [InlineData("{\"count\":0}", "count")]
    [InlineData("{\"count\":\"two\"}", "count")]
    [InlineData("{\"start\":\"tomorrow\"}", "start")]
    [InlineData("{\"end\":\"2026-12-02T10:00:00Z\"}", "end")]
    [InlineData("{\"end\":\"2026-12-02T14:00:00Z\",\"duration\":\"01:00:00\"}", "duration")]
    [InlineData("{\"duration\":\"-01:00:00\"}", "duration")]
    [InlineData("{\"duration\":\"1\"}", "duration")] // not one day: a bare number has no unit
    [InlineData("{\"cuont\":2}", "cuont")]
    [InlineData("{\"reason\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", "reason")] // 501 characters
    [InlineData("{\"start\":\"9999-12-31T23:00:00Z\",\"duration\":\"10:00:00\"}", "start")]
    [InlineData("{\"duration\":\"10675199.00:00:00\"}", "duration")]
    [InlineData("{\"end\":\"9999-12-31T23:00:00Z\"}", "end")]
    [InlineData("{\"end\":\"2027-01-15T12:00:00Z\"}", "end")] // 44 days: a window as long as duration allows, not twice
    [InlineData("[1]", "body")]
    public async Task StartShadows_BadBody_Is400NamingTheField_AndNothingIsRequested(string body, string field)
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);

        AssertProblem(await Api.StartShadowsAsync("orders", Body(body), "oncall", Ct), 400, field);
        Assert.Empty(await _store.ListKeysAsync(StateKeys.ShadowRequestsPrefix, Ct));
    }

    [Fact]
    public async Task StartShadows_AnEndWithinTheMinuteButAlreadyPast_Is400()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        _time.Advance(TimeSpan.FromSeconds(30)); // the window starts at 11:30:00, the minute

        AssertProblem(await Api.StartShadowsAsync("orders", Body("{\"end\":\"2026-12-02T11:30:10Z\"}"), "oncall", Ct), 400, "end");
        AssertProblem(await Api.StartShadowsAsync("orders", Body("{\"duration\":\"20s\"}"), "oncall", Ct), 400, "duration"); // from the minute: past too
    }

    [Fact]
    public async Task StartShadows_ServiceWithoutATable_Is404()
    {
        AssertProblem(await Api.StartShadowsAsync("payments", Body(string.Empty), "oncall", Ct), 404, "service");
    }

    [Fact]
    public async Task Promote_WithoutARecentPass_Is409WithTheReason_UnknownShadow404_BadTarget400()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders() with
        {
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed }],
        }, cancellationToken: Ct);

        var refused = await Api.PromoteAsync("orders", "s1", Body(string.Empty), "oncall", Ct);

        Assert.Equal(409, refused.Status);
        Assert.Contains("never been validated", Assert.IsType<ControlProblem>(refused.Body).Detail, StringComparison.Ordinal);
        AssertProblem(await Api.PromoteAsync("orders", "s9", Body(string.Empty), "oncall", Ct), 404, "shadowId");
        AssertProblem(await Api.PromoteAsync("orders", "S1", Body(string.Empty), "oncall", Ct), 404, "shadowId"); // ids are compared exactly, as the promotion itself does
        AssertProblem(await Api.PromoteAsync("orders", "s1", Body("{\"to\":\"prod\"}"), "oncall", Ct), 400, "to");
        AssertProblem(await Api.PromoteAsync("orders", "s1", Body("{\"to\":\"1\"}"), "oncall", Ct), 400, "to"); // not Production by its number
        AssertProblem(await Api.PromoteAsync("orders", "s1", Body("{\"to\":\"active,production\"}"), "oncall", Ct), 400, "to");
        AssertProblem(await Api.PromoteAsync("orders", "s1/x", Body(string.Empty), "oncall", Ct), 400, "shadowId");
    }

    [Fact]
    public async Task Promote_AHandPlacedShadowWithADotInItsId_IsJudgedByItsVerdict_NotRefusedAsABadId()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders() with
        {
            Shadows = [new ShadowEndpoint { Id = "canary.v2", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed }],
        }, cancellationToken: Ct);

        var refused = await Api.PromoteAsync("orders", "canary.v2", Body(string.Empty), "oncall", Ct);

        Assert.Equal(409, refused.Status); // the endpoint id the routing table allows; refused only for want of a Pass
        Assert.Contains("never been validated", Assert.IsType<ControlProblem>(refused.Body).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"to\":\"active\"}")]
    [InlineData("{\"to\":\"production\"}")]
    public async Task Promote_Retried_Is200WithoutWritingOrAuditingAgain_EvenOnceItsPassHasAged(string body)
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders() with
        {
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed }],
        }, cancellationToken: Ct);
        await _store.SaveJsonAsync(StateKeys.Verdict("orders", "s1"), new ShadowVerdict
        {
            Service = "orders", Shadow = "s1", Verdict = Verdict.Pass, Reasons = ["ok"], Metrics = [], From = Now.AddMinutes(-10), To = Now, JudgedAt = Now,
        }, cancellationToken: Ct);
        Assert.Equal(200, (await Api.PromoteAsync("orders", "s1", Body(body), "oncall", Ct)).Status);
        var written = (await _store.GetAsync(StateKeys.Routing("orders"), Ct))!.ETag;
        _time.Advance(TimeSpan.FromDays(2)); // the Pass is older than verdictMaxAge now

        var again = await Api.PromoteAsync("orders", "s1", Body(body), "oncall", Ct);

        Assert.Equal(200, again.Status);
        Assert.Equal(written, (await _store.GetAsync(StateKeys.Routing("orders"), Ct))!.ETag);
        var audit = Assert.IsAssignableFrom<IReadOnlyList<Shadowing.Core.Diagnostics.AuditEntry>>((await Api.GetAuditAsync("2026-12-02", Ct)).Body);
        Assert.Single(audit, e => e.Action == "promote");
    }

    [Fact]
    public async Task PutEvents_StoresTheCalendarThePaeReads_SortedByStart()
    {
        var result = await Api.PutEventsAsync("orders", Body("""
            [{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"xmas","kind":"campaign","expectedMultiplier":2},
             {"start":"2026-12-10T09:00:00Z","end":"2026-12-10T10:00:00Z","name":"launch","kind":"launch"}]
            """), null, "oncall", Ct);

        Assert.Equal(200, result.Status);
        var stored = (await _store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events("orders"), Ct))!.Value;
        Assert.Equal(["launch", "xmas"], stored.Select(e => e.Name));
        Assert.Equal(2, stored[1].ExpectedMultiplier);
        Assert.Equal(2, Assert.IsType<List<CalendarEvent>>((await Api.GetEventsAsync("orders", Ct)).Body).Count);
    }

    [Fact]
    public async Task PutEvents_ForAServiceDifferingOnlyInCaseFromAStoredOne_Is400AndWritesNothing()
    {
        await new RoutingTableStore(_store, _bus).PutAsync(Orders(), Ct);

        var result = await Api.PutEventsAsync("Orders", Body("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"xmas","kind":"campaign"}]"""), null, "oncall", Ct);

        AssertProblem(result, 400, "service");
        Assert.Contains("'orders'", Assert.IsType<ControlProblem>(result.Body).Errors!["service"][0], StringComparison.Ordinal);
        Assert.Null(await _store.GetAsync(StateKeys.Events("Orders"), Ct));
        Assert.Equal(200, (await Api.PutEventsAsync("payments", Body("[]"), null, "oncall", Ct)).Status); // no table at all: a calendar ahead of onboarding
    }

    [Fact]
    public async Task PutEvents_AnEmptyCalendarForACaseTwin_IsLetThroughToClearOneWrittenBefore()
    {
        await new RoutingTableStore(_store, _bus).PutAsync(Orders(), Ct);

        Assert.Equal(200, (await Api.PutEventsAsync("Orders", Body("[]"), null, "oncall", Ct)).Status);
    }

    [Fact]
    public async Task PutEvents_IfMatchAnOlderETag_Is412_AndTheOtherEditStays()
    {
        const string Alice = """[{"start":"2026-12-10T09:00:00Z","end":"2026-12-10T10:00:00Z","name":"alice","kind":"launch"}]""";
        const string Bob = """[{"start":"2026-12-11T09:00:00Z","end":"2026-12-11T10:00:00Z","name":"bob","kind":"launch"}]""";
        await Api.PutEventsAsync("orders", Body("[]"), null, "setup", Ct);
        var read = (await Api.GetEventsAsync("orders", Ct)).ETag; // both operators read this calendar

        Assert.Equal(200, (await Api.PutEventsAsync("orders", Body(Alice), $"\"{read}\"", "alice", Ct)).Status);
        var late = await Api.PutEventsAsync("orders", Body(Bob), $"\"{read}\"", "bob", Ct);

        Assert.Equal(412, late.Status);
        Assert.Equal(["alice"], (await _store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events("orders"), Ct))!.Value.Select(e => e.Name));
        Assert.Equal(200, (await Api.PutEventsAsync("orders", Body(Bob), "*", "bob", Ct)).Status); // any calendar that exists
    }

    [Fact]
    public async Task PutEvents_TheFirstCalendar_IfNoneMatchCreatesItOnlyOnce_IfMatchAnyNeedsOne()
    {
        const string Alice = """[{"start":"2026-12-10T09:00:00Z","end":"2026-12-10T10:00:00Z","name":"alice","kind":"launch"}]""";

        Assert.Equal(412, (await Api.PutEventsAsync("payments", Body(Alice), "*", "alice", Ct)).Status); // none yet
        Assert.Null(await _store.GetAsync(StateKeys.Events("payments"), Ct));
        Assert.Equal(200, (await Api.PutEventsAsync("payments", Body(Alice), null, "alice", Ct, ifNoneMatch: "*")).Status);
        Assert.Equal(412, (await Api.PutEventsAsync("payments", Body("[]"), null, "bob", Ct, ifNoneMatch: "*")).Status); // written meanwhile
        Assert.Equal(["alice"], (await _store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events("payments"), Ct))!.Value.Select(e => e.Name));
    }

    [Theory]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T17:00:00Z","name":"x","kind":"campaign"}]""", "events[0].end")]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"x","kind":"campaign"},{"start":"2026-12-24","end":"2026-12-25","kind":"news"}]""", "events[1].name")]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"x","kind":"campaign","expectedMultiplier":-1}]""", "events[0].expectedMultiplier")]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"x","kind":"campaign","multiplier":2}]""", "events[0].multiplier")]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"x","kind":"campaign","expectedMultiplier":1e400}]""", "events[0].expectedMultiplier")]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"\ud800","kind":"campaign"}]""", "body")]
    [InlineData("""[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","\udc00":"x","kind":"campaign"}]""", "body")]
    [InlineData("""{"start":"2026-12-24T18:00:00Z"}""", "body")]
    public async Task PutEvents_BadEntry_Is400NamingIndexAndField_AndKeepsTheOldCalendar(string body, string field)
    {
        await _store.SaveJsonAsync(StateKeys.Events("orders"), new List<CalendarEvent> { new(Now, Now.AddHours(1), "old", "news") }, cancellationToken: Ct);

        AssertProblem(await Api.PutEventsAsync("orders", Body(body), null, "oncall", Ct), 400, field);
        Assert.Equal("old", Assert.Single((await _store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events("orders"), Ct))!.Value).Name);
    }

    [Fact]
    public async Task PutEvents_SeveralBadEntries_EachNamed()
    {
        const string Calendar = """[{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T17:00:00Z","name":"x","kind":"campaign"},{"start":"2026-12-24T18:00:00Z","end":"2026-12-24T22:00:00Z","name":"ok","kind":"campaign"},{"start":"2026-12-24","end":"2026-12-25","kind":"news"}]""";

        var result = await Api.PutEventsAsync("orders", Body(Calendar), null, "oncall", Ct);

        var problem = Assert.IsType<ControlProblem>(result.Body);
        Assert.Equal(400, result.Status);
        Assert.Equal(["events[0].end", "events[2].name"], problem.Errors!.Keys.Order(StringComparer.Ordinal));
        Assert.StartsWith("events[0].end: ", problem.Detail, StringComparison.Ordinal);
        Assert.EndsWith("(and 1 more: see errors)", problem.Detail, StringComparison.Ordinal);
        Assert.Null(await _store.GetAsync(StateKeys.Events("orders"), Ct));
    }

    [Fact]
    public async Task Routing_ListAndGet_WithETag_404ForUnknown()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);

        Assert.Equal("orders", Assert.Single(Assert.IsType<RoutingTable[]>((await Api.ListRoutingTablesAsync(Ct)).Body)).Service);
        var one = await Api.GetRoutingTableAsync("orders", Ct);
        Assert.Equal(("orders", true), (Assert.IsType<RoutingTable>(one.Body).Service, one.ETag is not null));
        AssertProblem(await Api.GetRoutingTableAsync("payments", Ct), 404, "service");
    }

    [Fact]
    public async Task Body_LargerThanTheCap_Is400()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);

        AssertProblem(await Api.PutEventsAsync("orders", new MemoryStream(new byte[ControlApi.MaxBodyBytes + 1]), null, "oncall", Ct), 400, "body");
    }

    [Fact]
    public async Task OperatorActions_AreAudited_WithWhoWhenAndWhat_AndRefusedOnesAreNot()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), Orders(), cancellationToken: Ct);
        Running("wf-1");

        await Api.StartShadowsAsync("orders", Body("{\"count\":2}"), "alice from 127.0.0.1", Ct);
        await Api.RaiseEventAsync("wf-1", "release", Body(string.Empty), "bob", Ct);
        await Api.StartShadowsAsync("orders", Body("{\"count\":0}"), "mallory", Ct); // refused: not an action taken
        _time.Advance(TimeSpan.FromSeconds(1));
        await Api.PutEventsAsync("orders", Body("[]"), null, "carol", Ct);

        var audit = Assert.IsAssignableFrom<IReadOnlyList<Shadowing.Core.Diagnostics.AuditEntry>>((await Api.GetAuditAsync(null, Ct)).Body);
        Assert.Equal(
            [("alice from 127.0.0.1", "start-shadows", "orders"), ("bob", "raise-event", "wf-1"), ("carol", "put-events", "orders")],
            audit.Select(e => (e.Actor, e.Action, e.Target)));
        Assert.Equal(Now, audit[0].At);
        Assert.Contains("2 shadow(s)", audit[0].Detail, StringComparison.Ordinal);
        AssertProblem(await Api.GetAuditAsync("yesterday", Ct), 400, "day");
        Assert.Empty(Assert.IsAssignableFrom<IReadOnlyList<Shadowing.Core.Diagnostics.AuditEntry>>((await Api.GetAuditAsync("2026-12-01", Ct)).Body));
    }

    internal static void AssertProblem(ControlResult result, int status, string field)
    {
        Assert.Equal(status, result.Status);
        var problem = Assert.IsType<ControlProblem>(result.Body);
        Assert.True(problem.Errors?.ContainsKey(field) == true, $"expected the problem to name '{field}': {JsonSerializer.Serialize(problem, ShadowingJson.Options)}");
    }

    private static MemoryStream Body(string json) => new(Encoding.UTF8.GetBytes(json));

    /// <summary>A stored request of "orders" and its plan, admitted with workflow wf-1.</summary>
    private async Task<ShadowRequest> AdmittedAsync(DateTimeOffset start, TimeSpan length, int count, ShadowRequestKind kind)
    {
        var (stored, _) = await new ShadowRequestStore(_store, _bus).SubmitAsync(new ShadowRequest
        {
            Id = ShadowRequest.IdOf("orders", start), Service = "orders", Count = count, WindowStart = start, WindowEnd = start + length, Kinds = [kind], Reason = "test", CreatedAt = Now, UpdatedAt = Now,
        }, Ct);
        await _store.SaveJsonAsync(StateKeys.ShadowPlan(stored.Id), new ShadowPlan
        {
            RequestId = stored.Id, Service = "orders", Count = count, WindowStart = start, WindowEnd = start + length, Decision = ShadowPlanDecision.Admitted,
            Reason = "test", EndpointHours = count * length.TotalHours, InstanceId = "wf-1", DecidedAt = Now,
        }, cancellationToken: Ct);
        return stored;
    }

    private static RoutingTable Orders() => new()
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
    };

    private static ShadowRequest Request(DateTimeOffset start) => new()
    {
        Id = ShadowRequest.IdOf("orders", start),
        Service = "orders",
        Count = 1,
        WindowStart = start,
        WindowEnd = start.AddHours(1),
        Kinds = [ShadowRequestKind.Demand],
        Reason = "test",
        CreatedAt = start,
        UpdatedAt = start,
    };

    private static WorkflowStatus Status(string id, string runtimeStatus, string? customStatus = null) =>
        new(id, "ShadowLifecycleWorkflow", Now, Now, runtimeStatus, customStatus is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [WorkflowStatus.CustomStatusProperty] = customStatus });

    private void Running(string id) => _workflows.GetAsync(id, Arg.Any<CancellationToken>()).Returns(Status(id, "RUNNING"));

    private Task Day(string endpoint, EndpointRole role, params (DateTimeOffset Minute, long Requests, long Errors)[] minutes) =>
        RouterRecords.SaveAsync(_store, minutes.Select(m => new Core.Metrics.EndpointMinuteRecord { Service = "orders", EndpointId = endpoint, Role = role, Minute = m.Minute, Requests = m.Requests, Errors = m.Errors }), Ct);
}
