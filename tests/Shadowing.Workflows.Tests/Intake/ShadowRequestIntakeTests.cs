using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Embedded.Workflows;
using Shadowing.TestUtilities.State;
using Shadowing.Workflows.Intake;
using Shadowing.Workflows.Lifecycle;
using Shadowing.Workflows.Tests.Lifecycle;

namespace Shadowing.Workflows.Tests.Intake;

/// <summary>
/// The intake against the real Dapr.Workflow client on the embedded backend, with a stand-in registered under the
/// lifecycle's name that records the events it gets (release ends it).
/// </summary>
public sealed class ShadowRequestIntakeTests : IAsyncLifetime
{
    private readonly InMemoryStateStore _store = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 11, 30, 0, TimeSpan.Zero));
    private ShadowGuardRails _rails = new() { MaxShadowsPerService = 2, MaxShadowsTotal = 3, EndpointHoursPerDay = 10 };
    private IHost _host = null!;
    private DaprWorkflowClient _workflows = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Embedded:Workflows:StatePath"] = ":memory:" });
        builder.Services.AddEmbeddedDaprWorkflows(builder.Configuration, o => o.RegisterWorkflow<ShadowRequest, ShadowOutcome>(ShadowLifecycleNames.Workflow, StandInAsync));
        _host = builder.Build();
        await _host.StartAsync(TestContext.Current.CancellationToken);
        _workflows = _host.Services.GetRequiredService<DaprWorkflowClient>();
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }

    [Fact]
    public async Task Handle_NewRequestWithinTheRails_StartsOneWorkflowAndChargesTheBudget()
    {
        var request = WorkflowHarness.NewRequest(count: 2);

        var plan = await Intake().HandleAsync(request);
        var again = await Intake().HandleAsync(request); // redelivered

        Assert.Equal(ShadowPlanDecision.Admitted, plan.Decision);
        Assert.Equal(ShadowLifecycleNames.InstanceId(request), plan.InstanceId);
        Assert.Equal(plan, again);
        var input = (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true))!.ReadInputAs<ShadowRequest>()!;
        Assert.Equal((request.Id, request.Count, request.WindowEnd), (input.Id, input.Count, input.WindowEnd));
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(4, budget.EndpointHours);
        Assert.Equal(plan, (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value);
    }

    [Fact]
    public async Task Handle_RunningWorkflowWhoseChargeAnotherHostGaveBack_IsChargedAgain()
    {
        // Another host decided the request refused while this one scheduled it, and gave back the charge it found.
        var request = WorkflowHarness.NewRequest(count: 2);
        var plan = await Intake().HandleAsync(request);
        var day = new DateOnly(2026, 12, 2);
        await _store.SaveJsonAsync(StateKeys.ShadowBudget(day), new ShadowBudgetDay { Day = day, EndpointHours = 0, Requests = new Dictionary<string, double> { [request.Id] = 0 } });

        var again = await Intake().HandleAsync(request); // the next maintenance tick

        Assert.Equal(plan, again);
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(day)))!.Value;
        Assert.Equal((4d, 4d), (budget.EndpointHours, budget.Requests[request.Id]));
    }

    [Fact]
    public async Task Handle_CapReached_RefusesWithTheReasonStoredAndStartsNothing()
    {
        await Intake().HandleAsync(WorkflowHarness.NewRequest(count: 2));
        var second = WorkflowHarness.NewRequest(count: 1) with { Id = "orders/20261202T1500Z", WindowStart = new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero), WindowEnd = new DateTimeOffset(2026, 12, 2, 16, 0, 0, TimeSpan.Zero) };

        var plan = await Intake().HandleAsync(second);

        Assert.Equal(ShadowPlanDecision.Refused, plan.Decision);
        Assert.Contains("would make 3, over the cap of 2 per service", plan.Reason, StringComparison.Ordinal);
        Assert.Equal(plan, (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(second.Id)))!.Value);
        Assert.Null(plan.InstanceId);
    }

    [Fact]
    public async Task Handle_MoreShadowsThanTheCapLeavesRoomFor_StartsAsManyAsFit()
    {
        // A spike needing 3 shadows against a cap of 2 gets 2, not none.
        var request = WorkflowHarness.NewRequest(count: 3);

        var plan = await Intake().HandleAsync(request);

        Assert.Equal((ShadowPlanDecision.Admitted, 2), (plan.Decision, plan.Count));
        Assert.Contains("(capped at 2 of 3 shadow(s): 3 more shadow(s) of 'orders' would make 3, over the cap of 2 per service", plan.Reason, StringComparison.Ordinal);
        Assert.Equal(2, (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true))!.ReadInputAs<ShadowRequest>()!.Count);
        Assert.Equal(4, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_LongerWindowAndMoreShadowsThanTheCaps_ExtendsWithTheShadowsThatFit_AndRefusedGrowthDoesNotPileUpNotes()
    {
        // Running with 1 shadow of a cap of 2; a later forecast asks for 4 until an hour later.
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        var grown = request with { Count = 4, WindowEnd = request.WindowEnd.AddHours(1) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, grown);

        var updated = await Intake().HandleAsync(grown);
        await Intake().ReconcileOpenRequestsAsync(); // the other 2 are refused now: the plan says so
        var once = (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value;
        _time.Advance(TimeSpan.FromMinutes(1));
        var changed = await Intake().ReconcileOpenRequestsAsync();

        Assert.Equal((2, grown.WindowEnd), (updated.Count, updated.WindowEnd));
        Assert.Equal($"{grown.Reason} (growing to 4 shadow(s) capped at 2: 3 more shadow(s) of 'orders' would make 4, over the cap of 2 per service (Shadowing:Sep:GuardRails:MaxShadowsPerService))", updated.Reason);
        Assert.Equal((2, grown.WindowEnd), (once.Count, once.WindowEnd));
        Assert.Equal($"{grown.Reason} (growing to 4 shadow(s) until {grown.WindowEnd:u} refused: 2 more shadow(s) of 'orders' would make 4, over the cap of 2 per service (Shadowing:Sep:GuardRails:MaxShadowsPerService))", once.Reason);
        Assert.Empty(changed); // refused again as before: not stored again, no note added
        Assert.Equal(once, (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal($"extend {grown.WindowEnd:O}; resize 2; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Handle_LongerWindowAndMoreShadowsAtTheCap_StillExtendsTheWindow()
    {
        // At the cap already: more shadows cannot start, but the ones running must not retire while demand lasts.
        var request = WorkflowHarness.NewRequest(count: 2);
        var plan = await Intake().HandleAsync(request);
        var grown = request with { Count = 3, WindowEnd = request.WindowEnd.AddHours(1) };

        var updated = await Intake().HandleAsync(grown);

        Assert.Equal((2, grown.WindowEnd), (updated.Count, updated.WindowEnd));
        Assert.Contains("growing to 3 shadow(s) refused: 1 more shadow(s) of 'orders' would make 3", updated.Reason, StringComparison.Ordinal);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal($"extend {grown.WindowEnd:O}; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Reconcile_ADryRunCappedBelowTheRequest_IsNotStoredAgainEveryTick()
    {
        _rails = new ShadowGuardRails { DryRun = true, MaxShadowsPerService = 2, MaxShadowsTotal = 3, EndpointHoursPerDay = 10 };
        var request = WorkflowHarness.NewRequest(count: 3);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        _time.Advance(TimeSpan.FromMinutes(1));

        var changed = await Intake().ReconcileOpenRequestsAsync();

        Assert.Equal((ShadowPlanDecision.DryRun, 2), (plan.Decision, plan.Count));
        Assert.Empty(changed);
        Assert.Equal(plan, (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value);
    }

    [Fact]
    public async Task Handle_CapFreedWhenTheFirstWorkflowEnded_AdmitsTheNextRequest()
    {
        var first = await Intake().HandleAsync(WorkflowHarness.NewRequest(count: 2));
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        var second = WorkflowHarness.NewRequest(count: 2) with { Id = "orders/20261202T1500Z", WindowStart = new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero), WindowEnd = new DateTimeOffset(2026, 12, 2, 16, 0, 0, TimeSpan.Zero) };

        Assert.Equal(ShadowPlanDecision.Admitted, (await Intake().HandleAsync(second)).Decision);
    }

    [Fact]
    public async Task Reconcile_RequestRefusedAtTheCap_IsAdmittedOnceTheCapFrees_ForWhatIsLeftOfItsWindow()
    {
        var first = await Intake().HandleAsync(WorkflowHarness.NewRequest(count: 2)); // the cap of 2 per service, 12:00-14:00
        var second = WorkflowHarness.NewRequest(count: 1) with { Id = "orders/20261202T1300Z", WindowStart = new DateTimeOffset(2026, 12, 2, 13, 0, 0, TimeSpan.Zero), WindowEnd = new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + second.Id, second);
        var refused = await Intake().HandleAsync(second);
        var whileFull = await Intake().ReconcileOpenRequestsAsync();
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 30, 0, TimeSpan.Zero));

        var changed = await Intake().ReconcileOpenRequestsAsync();

        Assert.Equal(ShadowPlanDecision.Refused, refused.Decision);
        Assert.Empty(whileFull); // decided again, still refused: nothing stored again
        var plan = Assert.Single(changed); // before, a refusal was final: the PAE does not send an unchanged request again
        Assert.Equal((ShadowPlanDecision.Admitted, ShadowLifecycleNames.InstanceId(second)), (plan.Decision, plan.InstanceId));
        var input = (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true, TestContext.Current.CancellationToken))!.ReadInputAs<ShadowRequest>()!;
        Assert.Equal((_time.GetUtcNow(), second.WindowEnd), (input.WindowStart, input.WindowEnd));
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(1.5, budget.Requests[second.Id], 6); // what is left of its window, not the two hours it asked for
    }

    [Fact]
    public async Task Handle_RequestFirstDecidedPartWayIntoItsWindow_IsChargedForWhatIsLeft_ItsWorkflowKeepsTheWindow()
    {
        // The host was down or the bus held the message: first seen at 13:30 for 12:00-14:00. It used to be charged from
        // 12:00. The workflow keeps the request's window (its shadows' ids come from it) and starts at once.
        var request = WorkflowHarness.NewRequest(count: 2);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 30, 0, TimeSpan.Zero));

        var plan = await Intake().HandleAsync(request);

        Assert.Equal((ShadowPlanDecision.Admitted, request.WindowStart), (plan.Decision, plan.WindowStart));
        Assert.Equal(1, plan.EndpointHours, 6);
        var input = (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true, TestContext.Current.CancellationToken))!.ReadInputAs<ShadowRequest>()!;
        Assert.Equal((request.WindowStart, request.WindowEnd), (input.WindowStart, input.WindowEnd));
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal((1d, 1d), (budget.EndpointHours, budget.Requests[request.Id]));
        Assert.Equal(plan, await Intake().HandleAsync(request)); // redelivered: nothing changes
    }

    [Fact]
    public async Task Handle_DryRun_RecordsThePlanAndProvisionsNothing()
    {
        _rails = new ShadowGuardRails { DryRun = true };
        var request = WorkflowHarness.NewRequest(count: 2);

        var plan = await Intake().HandleAsync(request);

        Assert.Equal(ShadowPlanDecision.DryRun, plan.Decision);
        Assert.Null(plan.InstanceId);
        Assert.Equal(plan, (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value);
        Assert.Empty((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
        Assert.Null(await _store.GetAsync(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))));
    }

    [Fact]
    public async Task Handle_MergedRequestWithLongerWindowAndMoreShadows_RaisesExtendAndResizeOnTheRunningInstance()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var plan = await Intake().HandleAsync(request);
        var merged = request with { Count = 2, WindowEnd = request.WindowEnd.AddHours(1) };

        var updated = await Intake().HandleAsync(merged);

        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        var state = await CompletionAsync(plan.InstanceId!);
        Assert.Equal($"extend {merged.WindowEnd:O}; resize 2; release test", state.ReadOutputAs<ShadowOutcome>()!.Reason);
        Assert.Equal((2, merged.WindowEnd), (updated.Count, updated.WindowEnd));
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_AShadowAddedPartWayThroughTheWindow_IsChargedFromWhenItWasAdded_AndSoOnAfterALaterExtension()
    {
        var request = WorkflowHarness.NewRequest(count: 1); // 12:00–14:00: 2 endpoint-hours
        await Intake().HandleAsync(request);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 0, 0, TimeSpan.Zero));

        var grown = await Intake().HandleAsync(request with { Count = 2 }); // the second from 13:00: 1 more
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 30, 0, TimeSpan.Zero));
        var extended = await Intake().HandleAsync(request with { Count = 2, WindowEnd = request.WindowEnd.AddHours(1) }); // both an hour more

        Assert.Equal((2, 3d), (grown.Count, grown.EndpointHours));
        Assert.Equal((2, 5d), (extended.Count, extended.EndpointHours));
        Assert.Equal(5, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_AfterAnOperatorsOverride_TheRequestsChangesAreNotRaised_AndThePlanSaysWhy()
    {
        // An operator extended the workflow by hand to hold through an incident; the next forecast shortens the request and
        // asks for more shadows. Raised, the request's end and count would undo the operator's extension.
        var request = WorkflowHarness.NewRequest(count: 1);
        var plan = await Intake().HandleAsync(request);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("extend", "oncall", request.WindowStart));
        var changed = request with { Count = 2, WindowEnd = request.WindowStart.AddMinutes(30) };

        var updated = await Intake().HandleAsync(changed);

        Assert.Equal((1, request.WindowEnd), (updated.Count, updated.WindowEnd));
        Assert.Contains("extend raised by hand by oncall", updated.Reason, StringComparison.Ordinal);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal("release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Handle_AfterAnOperatorsResizeAndExtend_ThePlanAndTheBudgetRecordThem_AndLaterRequestsAreDecidedAgainstThem()
    {
        // One shadow 12:00–14:00 (2 endpoint-hours); the operator resizes it to 2 and extends it to 15:00 by hand, as the
        // control API records them. The request itself is unchanged: the next reconcile tick decides it again.
        var request = WorkflowHarness.NewRequest(count: 1);
        var plan = await Intake().HandleAsync(request);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("extend", "oncall", _time.GetUtcNow()) { Count = 2, WindowEnd = request.WindowEnd.AddHours(1) });

        var recorded = await Intake().HandleAsync(request);
        var again = await Intake().HandleAsync(request);

        Assert.Equal((2, (DateTimeOffset?)request.WindowEnd.AddHours(1), 6d), (recorded.ManualCount, recorded.ManualEnd, recorded.EndpointHours));
        Assert.Equal((1, request.WindowEnd), (recorded.Count, recorded.WindowEnd)); // what the intake admitted stays
        Assert.Contains("extend raised by hand by oncall", recorded.Reason, StringComparison.Ordinal);
        Assert.Equal(recorded, again);
        Assert.Equal(6, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);

        // Another window of the service while the operator's two run: over the cap of 2 per service.
        var second = WorkflowHarness.NewRequest(count: 1) with { Id = "orders/20261202T1500Z", WindowStart = new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero), WindowEnd = new DateTimeOffset(2026, 12, 2, 16, 0, 0, TimeSpan.Zero) };
        var refused = await Intake().HandleAsync(second);
        Assert.Equal(ShadowPlanDecision.Refused, refused.Decision);
        Assert.Contains("over the cap of 2 per service", refused.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handle_AnOperatorsResizeDownPartWay_GivesBackTheRestOfTheWindowOfTheShadowsRemoved()
    {
        var request = WorkflowHarness.NewRequest(count: 2); // 12:00–14:00: 4 endpoint-hours
        var plan = await Intake().HandleAsync(request);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 0, 0, TimeSpan.Zero));
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("resize", "oncall", _time.GetUtcNow()) { Count = 1 });
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 10, 0, TimeSpan.Zero)); // the tick that sees it comes later

        var recorded = await Intake().HandleAsync(request);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 13, 30, 0, TimeSpan.Zero));
        var again = await Intake().HandleAsync(request); // the same override, a tick later: nothing more given back

        Assert.Equal((1, 3d), (recorded.ManualCount, recorded.EndpointHours)); // two until 13:00, when the operator resized, one after
        Assert.Equal(recorded, again);
        Assert.Equal(3, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_AnEndAnOperatorMovedEarlier_RecordedWhileItRan_IsNotBroughtBackOnceItCompletes()
    {
        var request = WorkflowHarness.NewRequest(count: 1); // 12:00–14:00
        var plan = await Intake().HandleAsync(request);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 12, 20, 0, TimeSpan.Zero));
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("extend", "oncall", _time.GetUtcNow()) { WindowEnd = request.WindowStart.AddMinutes(30) });
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Extend, new ExtendEvent(request.WindowStart.AddMinutes(30)), TestContext.Current.CancellationToken);
        var recorded = await Intake().HandleAsync(request); // a maintenance tick while it runs

        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "window ended", TestContext.Current.CancellationToken);
        await CompletionAsync(plan.InstanceId!);
        _time.SetUtcNow(new DateTimeOffset(2026, 12, 2, 12, 31, 0, TimeSpan.Zero));
        var after = await Intake().HandleAsync(request);

        Assert.Equal(0.5, recorded.EndpointHours);
        Assert.Equal((1, plan.InstanceId), (after.Revision, after.InstanceId));
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Reconcile_AnOperatorsExtensionPastTheRequestsEnd_IsRecordedAfterTheEnd()
    {
        // Extended by hand to 15:00 just before 14:00; the first tick after 14:00 still records it.
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("extend", "oncall", request.WindowEnd.AddSeconds(-30)) { WindowEnd = request.WindowEnd.AddHours(1) });
        _time.SetUtcNow(request.WindowEnd.AddSeconds(30));

        await Intake().ReconcileOpenRequestsAsync();

        var stored = (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value;
        Assert.Equal(((DateTimeOffset?)request.WindowEnd.AddHours(1), 3d), (stored.ManualEnd, stored.EndpointHours));
    }

    [Fact]
    public async Task Handle_AnOperatorsExtensionTheWorkflowNeverHeld_IsGivenBackOnceItCompletes()
    {
        // Released and draining when the operator extended it to 15:00: the tick charges the extension, the workflow
        // never holds it, and once it completes it is charged up to the end it held.
        var request = WorkflowHarness.NewRequest(count: 1);
        var plan = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, DrainSlowly, TestContext.Current.CancellationToken);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("extend", "oncall", request.WindowStart) { WindowEnd = request.WindowEnd.AddHours(1) });
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Extend, new ExtendEvent(request.WindowEnd.AddHours(1)), TestContext.Current.CancellationToken);
        var charged = await Intake().HandleAsync(request);

        await _workflows.RaiseEventAsync(plan.InstanceId!, Drained, "done", TestContext.Current.CancellationToken);
        await CompletionAsync(plan.InstanceId!);
        var after = await Intake().HandleAsync(request);

        Assert.Equal(3, charged.EndpointHours);
        Assert.Equal((2d, (DateTimeOffset?)request.WindowEnd), (after.EndpointHours, after.ManualEnd));
        Assert.Equal(2, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Reconcile_AnOperatorsExtensionTheWorkflowNeverHeld_IsGivenBackAfterTheRequestsEnd()
    {
        // Draining at its end (14:00) when the operator extended it to 15:00; it completes, and the first tick after the
        // request's end is the one that sees it ended.
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        _time.SetUtcNow(request.WindowEnd);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, DrainSlowly, TestContext.Current.CancellationToken);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(plan.InstanceId!), new ShadowOverride("extend", "oncall", request.WindowEnd) { WindowEnd = request.WindowEnd.AddHours(1) });
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Extend, new ExtendEvent(request.WindowEnd.AddHours(1)), TestContext.Current.CancellationToken);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(1));
        await Intake().ReconcileOpenRequestsAsync();
        var charged = (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value;

        await _workflows.RaiseEventAsync(plan.InstanceId!, Drained, "done", TestContext.Current.CancellationToken);
        await CompletionAsync(plan.InstanceId!);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(5));
        await Intake().ReconcileOpenRequestsAsync();

        Assert.Equal(3, charged.EndpointHours);
        Assert.Equal(2, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_RequestAFresherForecastShortened_MovesTheInstancesEndEarlier_GivesHoursBack_AndALateOldMessageIsNotObeyed()
    {
        var request = WorkflowHarness.NewRequest(count: 2);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request); // as the PAE stores before it publishes
        var plan = await Intake().HandleAsync(request);
        var shortened = request with { WindowEnd = request.WindowStart.AddMinutes(30) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, shortened);

        var updated = await Intake().HandleAsync(shortened);
        var late = await Intake().HandleAsync(request); // the first message, redelivered after the shortening

        Assert.Equal((2, shortened.WindowEnd), (updated.Count, updated.WindowEnd));
        Assert.Equal(updated, late);
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(1, budget.EndpointHours); // 2 shadows for half an hour, no longer 2 for 2 hours
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal($"extend {shortened.WindowEnd:O}; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Handle_ShortenedWhileAskingForMoreShadowsThanTheCaps_StillEndsEarlier()
    {
        var request = WorkflowHarness.NewRequest(count: 2); // the service's cap
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        var stored = request with { Count = 3, WindowEnd = request.WindowStart.AddMinutes(30) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, stored);

        var updated = await Intake().HandleAsync(stored);

        Assert.Equal((2, stored.WindowEnd), (updated.Count, updated.WindowEnd));
        Assert.Contains("refused", updated.Reason, StringComparison.Ordinal);
        Assert.Equal(1, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours); // the hours are given back
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal($"extend {stored.WindowEnd:O}; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Reconcile_ShortenedToAnEndThatHasPassed_WhoseMessageWasLost_StillReachesTheWorkflow()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        var shortened = request with { WindowEnd = request.WindowStart.AddMinutes(30) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, shortened); // the PAE shortened it; the message was lost
        _time.SetUtcNow(shortened.WindowEnd.AddMinutes(5));

        var changed = await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken);
        var again = await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken);

        Assert.Equal(shortened.WindowEnd, Assert.Single(changed).WindowEnd);
        Assert.Empty(again);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal($"extend {shortened.WindowEnd:O}; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Reconcile_ShortenedToAnEndThatHasPassed_AfterItsWorkflowEnded_IsLeftAlone()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var plan = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "done", TestContext.Current.CancellationToken);
        await CompletionAsync(plan.InstanceId!);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request with { WindowEnd = request.WindowStart.AddMinutes(30) });
        _time.SetUtcNow(request.WindowStart.AddHours(1));

        // Seen ended once (and recorded so, in case it took an end it never held to give back), then left alone.
        Assert.Equal(plan with { InstanceEndedAt = _time.GetUtcNow() }, Assert.Single(await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken)));
        Assert.Empty(await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Reconcile_ARequestLongOver_IsDeletedWithItsPlan_UnlessItsWorkflowStillRuns()
    {
        var ended = WorkflowHarness.NewRequest(count: 1);
        var stuck = WorkflowHarness.NewRequest(count: 1) with { Id = "payments/20261202T1200Z", Service = "payments" };
        var recent = WorkflowHarness.NewRequest(count: 1) with { Id = "orders/20261208T1200Z", WindowStart = ended.WindowStart.AddDays(6), WindowEnd = ended.WindowEnd.AddDays(6) };
        foreach (var request in new[] { ended, stuck, recent })
        {
            await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        }

        var plan = await Intake().HandleAsync(ended);
        await Intake().HandleAsync(stuck); // its workflow never ends: kept
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "done", TestContext.Current.CancellationToken);
        await CompletionAsync(plan.InstanceId!);
        _time.SetUtcNow(ended.WindowEnd + ShadowRequestIntake.EndedRetention + TimeSpan.FromMinutes(1));

        await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken);

        Assert.Equal([StateKeys.ShadowRequestsPrefix + recent.Id, StateKeys.ShadowRequestsPrefix + stuck.Id], await _store.ListKeysAsync(StateKeys.ShadowRequestsPrefix, TestContext.Current.CancellationToken));
        Assert.Null(await _store.GetAsync(StateKeys.ShadowPlan(ended.Id), TestContext.Current.CancellationToken));
        Assert.NotNull(await _store.GetAsync(StateKeys.ShadowPlan(stuck.Id), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Handle_LongerWindowWhileTheKillSwitchIsEngaged_IsRefused()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var plan = await Intake().HandleAsync(request);
        await _store.SaveJsonAsync(StateKeys.KillSwitch, new { By = "test" });

        var updated = await Intake().HandleAsync(request with { WindowEnd = request.WindowEnd.AddHours(1) });

        Assert.Equal(plan.WindowEnd, updated.WindowEnd);
        Assert.Contains("kill switch", updated.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_StoredRequestWhoseMessageWasLost_StartsOneInstance_AndAGrownOneReachesIt()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request); // stored by the PAE; never delivered

        var first = await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken);
        var second = await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken); // the next tick

        var plan = Assert.Single(first);
        Assert.Equal((ShadowPlanDecision.Admitted, ShadowLifecycleNames.InstanceId(request)), (plan.Decision, plan.InstanceId));
        Assert.Empty(second);
        Assert.Equal([plan.InstanceId!], (await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);

        var grown = request with { Count = 2, WindowEnd = request.WindowEnd.AddHours(1) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, grown); // merged by the PAE; message lost again
        Assert.Single(await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken));
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal($"extend {grown.WindowEnd:O}; resize 2; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task Reconcile_RequestsWhoseWindowHasEnded_AreLeftAlone()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        _time.SetUtcNow(request.WindowEnd);

        Assert.Empty(await Intake().ReconcileOpenRequestsAsync(TestContext.Current.CancellationToken));
        Assert.Null(await _store.GetAsync(StateKeys.ShadowPlan(request.Id)));
    }

    [Fact]
    public async Task Handle_RequestGrownAfterItsWorkflowEnded_RunsTheRestAsTheNextRevision_AndARedeliveryChangesNothing()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(-10));
        var grown = request with { WindowEnd = request.WindowEnd.AddHours(2) };

        var plan = await Intake().HandleAsync(grown);
        var again = await Intake().HandleAsync(grown);

        Assert.Equal((ShadowPlanDecision.Admitted, 2, first.InstanceId + "-r2"), (plan.Decision, plan.Revision, plan.InstanceId));
        Assert.Equal(plan, again);
        var input = (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true, TestContext.Current.CancellationToken))!.ReadInputAs<ShadowRequest>()!;
        Assert.Equal((request.Id, request.WindowEnd, grown.WindowEnd), (input.Id, input.WindowStart, input.WindowEnd)); // only what is left
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(2 + 2, budget.EndpointHours); // the first revision's two hours stay charged
        Assert.Equal(2, (await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds.Count);
    }

    [Fact]
    public async Task Handle_RequestExtendedWhileItsWorkflowDrained_RunsTheExtensionAsTheNextRevision_ChargedOnce()
    {
        // The window ended and the shadows are draining when the PAE extends the request: the plan takes the new end, the
        // event reaches a workflow that no longer holds, and the next reconcile tick must still run the extension.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, DrainSlowly, TestContext.Current.CancellationToken);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(-5));
        var extended = request with { WindowEnd = request.WindowEnd.AddHours(2) };
        var updated = await Intake().HandleAsync(extended);
        Assert.Equal((1, extended.WindowEnd), (updated.Revision, updated.WindowEnd)); // taken as an extension of the running one
        await _workflows.RaiseEventAsync(first.InstanceId!, Drained, "done", TestContext.Current.CancellationToken);
        Assert.Equal(request.WindowEnd, (await CompletionAsync(first.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.WindowEnd);

        var plan = await Intake().HandleAsync(extended); // the next reconcile tick
        var again = await Intake().HandleAsync(extended);

        Assert.Equal((ShadowPlanDecision.Admitted, 2, first.InstanceId + "-r2"), (plan.Decision, plan.Revision, plan.InstanceId));
        Assert.Equal(plan, again);
        var input = (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true, TestContext.Current.CancellationToken))!.ReadInputAs<ShadowRequest>()!;
        Assert.Equal((request.WindowEnd, extended.WindowEnd), (input.WindowStart, input.WindowEnd)); // from where the first one stopped holding
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(2 + 2, budget.EndpointHours); // the two extended hours once, by the revision that holds them
    }

    [Fact]
    public async Task Reconcile_ExtensionTheWorkflowNeverHeld_SeenEndedOnlyAfterTheRequestsEnd_IsGivenBack()
    {
        // As above, but the drain outlasts the extended window: nothing is left to run as a next revision, and the two
        // extended hours nobody held used to stay charged.
        var request = WorkflowHarness.NewRequest(count: 1);
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, DrainSlowly, TestContext.Current.CancellationToken);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(-5));
        var extended = request with { WindowEnd = request.WindowEnd.AddHours(2) };
        await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, extended);
        Assert.Equal(4, (await Intake().HandleAsync(extended)).EndpointHours);
        _time.SetUtcNow(extended.WindowEnd.AddMinutes(5));
        Assert.Empty(await Intake().ReconcileOpenRequestsAsync()); // still draining: nothing to decide

        await _workflows.RaiseEventAsync(first.InstanceId!, Drained, "done", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        await Intake().ReconcileOpenRequestsAsync();
        await Intake().ReconcileOpenRequestsAsync();

        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(2, budget.EndpointHours); // 12:00-14:00, the end it held
        var plan = (await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id)))!.Value;
        Assert.Equal((1, (DateTimeOffset?)extended.WindowEnd.AddMinutes(5)), (plan.Revision, plan.InstanceEndedAt));
        Assert.Equal((request.WindowEnd, 2d), (plan.WindowEnd, plan.EndpointHours)); // the plan says what it held and is charged
    }

    [Fact]
    public async Task Handle_ExtensionRaisedAsItsWorkflowCompleted_RunsTheExtensionAsTheNextRevision_ChargedOnce()
    {
        // The intake sees the workflow running and raises extend, but the workflow completes first: the backend drops the
        // event, the plan already holds the new end, and only the numbers tell that the workflow never got it.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(-5));
        var racing = Substitute.For<IDaprWorkflowClient>();
        racing.GetWorkflowStateAsync(default!, default, default).ReturnsForAnyArgs(c => _workflows.GetWorkflowStateAsync(c.ArgAt<string>(0), c.ArgAt<bool>(1), c.ArgAt<CancellationToken>(2)));
        racing.RaiseEventAsync(default!, default!, default, default).ReturnsForAnyArgs(async c =>
        {
            await _workflows.RaiseEventAsync(c.ArgAt<string>(0), ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
            await CompletionAsync(c.ArgAt<string>(0));
            await _workflows.RaiseEventAsync(c.ArgAt<string>(0), c.ArgAt<string>(1), c.ArgAt<object?>(2), c.ArgAt<CancellationToken>(3));
        });
        var extended = request with { WindowEnd = request.WindowEnd.AddHours(2) };
        var updated = await Intake(workflows: racing).HandleAsync(extended);
        Assert.Equal((1, extended.WindowEnd, 1), (updated.Revision, updated.WindowEnd, updated.Extensions));
        var outcome = (await CompletionAsync(first.InstanceId!)).ReadOutputAs<ShadowOutcome>()!;
        Assert.Equal((request.WindowEnd, 0), (outcome.WindowEnd, outcome.ExtensionsReceived));

        var plan = await Intake().HandleAsync(extended); // the next reconcile tick

        Assert.Equal((ShadowPlanDecision.Admitted, 2, first.InstanceId + "-r2"), (plan.Decision, plan.Revision, plan.InstanceId));
        var input = (await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: true, TestContext.Current.CancellationToken))!.ReadInputAs<ShadowRequest>()!;
        Assert.Equal((request.WindowEnd, extended.WindowEnd), (input.WindowStart, input.WindowEnd));
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(2 + 2, budget.EndpointHours); // the two extended hours once, by the revision that holds them
    }

    [Fact]
    public async Task Handle_ExtensionTheWorkflowReceived_ThenAnEarlierEndByHand_IsNotBroughtBack()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        var extended = request with { WindowEnd = request.WindowEnd.AddHours(2) };
        Assert.Equal(1, (await Intake().HandleAsync(extended)).Extensions);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Extend, new ExtendEvent(request.WindowStart.AddMinutes(30)), TestContext.Current.CancellationToken);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        var outcome = (await CompletionAsync(first.InstanceId!)).ReadOutputAs<ShadowOutcome>()!;
        Assert.Equal((request.WindowStart.AddMinutes(30), 1), (outcome.WindowEnd, outcome.ExtensionsReceived));
        _time.SetUtcNow(request.WindowStart.AddMinutes(40));

        var plan = await Intake().HandleAsync(extended);

        Assert.Equal((1, first.InstanceId), (plan.Revision, plan.InstanceId));
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_AWindowAnOperatorEndedEarlierByHand_IsNotBroughtBack()
    {
        // extend raised by hand on the instance (the control API's events route): neither request nor plan records it.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Extend, new ExtendEvent(request.WindowStart.AddMinutes(30)), TestContext.Current.CancellationToken);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        Assert.Equal(request.WindowStart.AddMinutes(30), (await CompletionAsync(first.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.WindowEnd);
        _time.SetUtcNow(request.WindowStart.AddMinutes(40));

        var plan = await Intake().HandleAsync(request); // the next reconcile tick: the request's window is still open

        Assert.Equal(first, plan with { InstanceEndedAt = null });
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_AWorkflowReleasedByHand_IsChargedUpToTheRelease_AndNotRunAgainWhenTheRequestGrows()
    {
        // 12:00-14:00, released through the control API at 12:30 (which marks the release): what a request merged in later
        // asks for is not run as the rest of this window (later requests stand on their own), and the hour and a half not held
        // goes back to the budget.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        var releasedAt = request.WindowStart.AddMinutes(30);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(first.InstanceId!), new ShadowOverride("release", "oncall", releasedAt) { ReleasedAt = releasedAt });
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "by hand", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        _time.SetUtcNow(request.WindowStart.AddMinutes(40));

        var plan = await Intake().HandleAsync(request with { Count = 2, WindowEnd = request.WindowEnd.AddHours(1) });

        Assert.Equal((ShadowPlanDecision.Admitted, 1, first.InstanceId, releasedAt), (plan.Decision, plan.Revision, plan.InstanceId, plan.WindowEnd));
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(0.5, budget.EndpointHours, 6);
    }

    [Fact]
    public async Task Handle_AWorkflowExtendedByHandThenReleasedByHand_IsChargedUpToTheRelease()
    {
        // 12:00-14:00 extended by hand to 15:00 (3 endpoint-hours), then released by hand at 12:30: half an hour is charged.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(first.InstanceId!), new ShadowOverride("extend", "oncall", _time.GetUtcNow()) { WindowEnd = request.WindowEnd.AddHours(1) });
        Assert.Equal(3, (await Intake().HandleAsync(request)).EndpointHours);
        var releasedAt = request.WindowStart.AddMinutes(30);
        _time.SetUtcNow(releasedAt);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(first.InstanceId!), new ShadowOverride("extend", "oncall", request.WindowStart.AddMinutes(-30)) { WindowEnd = request.WindowEnd.AddHours(1), ReleasedAt = releasedAt });
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "by hand", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        _time.SetUtcNow(releasedAt.AddMinutes(10));

        var plan = await Intake().HandleAsync(request);

        Assert.Equal(0.5, plan.EndpointHours, 6);
        Assert.Equal(0.5, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours, 6);
    }

    [Fact]
    public async Task Handle_RequestGrownAfterAnOperatorTerminatedItsWorkflow_IsNotBroughtBack()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.TerminateWorkflowAsync(first.InstanceId!, "oncall", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);

        var plan = await Intake().HandleAsync(request with { WindowEnd = request.WindowEnd.AddHours(2) });

        Assert.Equal(first, plan with { InstanceEndedAt = null }); // the same plan, now marked as seen ended
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_AfterTheEndedWorkflowWasPurged_IsNotRunAgain()
    {
        // The embedded backend purges ended instances after its retention (7 days), and a long manual window can outlast
        // that: the plan still says Admitted, and a reconcile tick must not start its shadows again.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.TerminateWorkflowAsync(first.InstanceId!, "oncall", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        var seenEnded = await Intake().HandleAsync(request); // a reconcile tick while it is still there
        Assert.True(await _workflows.PurgeInstanceAsync(first.InstanceId!, TestContext.Current.CancellationToken));

        var plan = await Intake().HandleAsync(request);

        Assert.Equal(first with { InstanceEndedAt = _time.GetUtcNow() }, seenEnded);
        Assert.Equal(seenEnded, plan);
        Assert.Empty((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_WorkflowGoneWithoutHavingBeenSeenToEnd_IsScheduledAgainAsItsNextRevision()
    {
        // A workflow store lost under a running request (a deleted file, `:memory:`, a reset actor store): its window
        // still needs its shadows.
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.TerminateWorkflowAsync(first.InstanceId!, "stands in for the loss", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        Assert.True(await _workflows.PurgeInstanceAsync(first.InstanceId!, TestContext.Current.CancellationToken));

        var plan = await Intake().HandleAsync(request);

        // The next revision: the lost run's shadows stay retired under their ids, which are never reused.
        Assert.Equal((2, ShadowLifecycleNames.InstanceId(request, revision: 2)), (plan.Revision, plan.InstanceId));
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(DateOnly.FromDateTime(request.WindowStart.UtcDateTime)), TestContext.Current.CancellationToken))!.Value;
        Assert.Equal(plan.EndpointHours, budget.EndpointHours); // charged once for the window, not once per revision
        Assert.Equal("s20261202t1200r2-1", ShadowLifecycleNames.ShadowId(request, 1, ShadowLifecycleNames.RevisionOf(plan.InstanceId!)));
        var state = await _workflows.GetWorkflowStateAsync(plan.InstanceId!, getInputsAndOutputs: false, TestContext.Current.CancellationToken);
        Assert.True(state is { Exists: true, IsWorkflowRunning: true } || state is { Exists: true, RuntimeStatus: WorkflowRuntimeStatus.Pending });
    }

    [Fact]
    public async Task Handle_OnlyTheCountGrewAfterTheWindowRan_StartsNothing()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(-1));

        Assert.Equal(first, (await Intake().HandleAsync(request with { Count = 3 })) with { InstanceEndedAt = null }); // its window ends with the first revision's

        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_RequestNotGrownAfterItsWorkflowEnded_IsServedOnce()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);

        Assert.Equal(first, (await Intake().HandleAsync(request)) with { InstanceEndedAt = null });
        Assert.Single((await _workflows.ListInstanceIdsAsync(cancellation: TestContext.Current.CancellationToken)).InstanceIds);
    }

    [Fact]
    public async Task Handle_MergeThatWouldPassTheBudget_IsRefusedAndTheInstanceKeepsItsWindow()
    {
        var request = WorkflowHarness.NewRequest(count: 1); // 2 endpoint-hours of the 10
        var plan = await Intake().HandleAsync(request);

        var updated = await Intake().HandleAsync(request with { WindowEnd = request.WindowEnd.AddHours(10) });

        Assert.Equal(request.WindowEnd, updated.WindowEnd);
        Assert.Contains("12 endpoint-hours on 2026-12-02 would make 12, over the budget of 10 per day", updated.Reason, StringComparison.Ordinal);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal("release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason); // no extend reached it
        Assert.Equal(2, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_ConcurrentRequests_NeverOverspendTheBudget()
    {
        _rails = new ShadowGuardRails { MaxShadowsPerService = 100, MaxShadowsTotal = 100, EndpointHoursPerDay = 10 };
        var requests = Enumerable.Range(0, 6).Select(i => WorkflowHarness.NewRequest(count: 1) with
        {
            Id = $"orders/20261202T{12 + i:00}00Z",
            WindowStart = new DateTimeOffset(2026, 12, 2, 12 + i, 0, 0, TimeSpan.Zero),
            WindowEnd = new DateTimeOffset(2026, 12, 2, 15 + i, 0, 0, TimeSpan.Zero), // 3 h each
        }).ToArray();
        // Two hosts on one store whose reads yield, so each reads the budget before the other has charged it.
        var shared = new YieldingStore(_store);
        var intakes = new[] { Intake(shared), Intake(shared) };

        var plans = await Task.WhenAll(requests.Select((r, i) => Task.Run(() => intakes[i % 2].HandleAsync(r))));

        Assert.Equal(3, plans.Count(p => p.Decision == ShadowPlanDecision.Admitted));
        Assert.Equal(9, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task KillSwitch_ReleasesRunningWorkflowsAndRefusesNewRequests()
    {
        var running = await Intake().HandleAsync(WorkflowHarness.NewRequest(count: 1));

        var released = await Intake().EngageKillSwitchAsync("ops");
        var next = WorkflowHarness.NewRequest(count: 1) with { Id = "orders/20261202T1500Z", WindowStart = new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero), WindowEnd = new DateTimeOffset(2026, 12, 2, 16, 0, 0, TimeSpan.Zero) };
        var refused = await Intake().HandleAsync(next);

        Assert.Equal([running.InstanceId!], released);
        Assert.Equal("release kill switch engaged by ops", (await CompletionAsync(running.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
        Assert.Equal("Refused: the kill switch is engaged", refused.Reason);

        await Intake().DisengageKillSwitchAsync();
        Assert.Equal(ShadowPlanDecision.Admitted, (await Intake().HandleAsync(next with { Id = "orders/20261202T1700Z", WindowStart = next.WindowStart.AddHours(2), WindowEnd = next.WindowEnd.AddHours(2) })).Decision);
    }

    [Fact]
    public async Task Handle_PlanNotStoredAfterItsWorkflowWasScheduled_IsAdoptedAsAdmitted_SoTheKillSwitchStillReleasesIt()
    {
        var request = WorkflowHarness.NewRequest(count: 2);
        var failing = new FailFirstPlanSave(_store);
        await Assert.ThrowsAsync<StateStoreException>(() => Intake(failing).HandleAsync(request));

        // Before the request is decided again, the kill switch is engaged: the workflow already runs all the same.
        await _store.SaveJsonAsync(StateKeys.KillSwitch, new { By = "ops" });
        var plan = await Intake().HandleAsync(request);

        Assert.Equal((ShadowPlanDecision.Admitted, ShadowLifecycleNames.InstanceId(request), 2, 4.0), (plan.Decision, plan.InstanceId, plan.Count, plan.EndpointHours));
        Assert.Equal(4, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
        Assert.Equal([plan.InstanceId!], await Intake().EnforceKillSwitchAsync());
    }

    [Fact]
    public async Task Handle_RequestDeliveredAfterItsWindowEnded_IsRefused_NothingStartedOrCharged()
    {
        var request = WorkflowHarness.NewRequest(count: 2);
        _time.SetUtcNow(request.WindowEnd.AddMinutes(5)); // the host was down through the window

        var plan = await Intake().HandleAsync(request);

        Assert.Equal((ShadowPlanDecision.Refused, "Refused: its window ended before it could be decided", 0.0, null), (plan.Decision, plan.Reason, plan.EndpointHours, plan.InstanceId));
        Assert.Null(await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))));
        Assert.False((await _workflows.GetWorkflowStateAsync(ShadowLifecycleNames.InstanceId(request)))?.Exists ?? false);
    }

    [Fact]
    public async Task Handle_ChargedButTheWorkflowCouldNotBeScheduled_ThenRefused_TheChargeIsGivenBack()
    {
        var request = WorkflowHarness.NewRequest(count: 2);
        var unavailable = Substitute.For<IDaprWorkflowClient>(); // daprd's workflow engine not answering yet
        unavailable.GetWorkflowStateAsync(default!, default, default).ReturnsForAnyArgs(c => _workflows.GetWorkflowStateAsync(c.ArgAt<string>(0), c.ArgAt<bool>(1), c.ArgAt<CancellationToken>(2)));
        unavailable.ScheduleNewWorkflowAsync(default!, default, default).ReturnsForAnyArgs(Task.FromException<string>(new InvalidOperationException("the workflow engine is not ready")));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Intake(workflows: unavailable).HandleAsync(request));
        Assert.Equal(4, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);

        _rails = new ShadowGuardRails { DryRun = true, MaxShadowsPerService = 2, MaxShadowsTotal = 3, EndpointHoursPerDay = 10 };
        var plan = await Intake().HandleAsync(request);

        Assert.Equal(ShadowPlanDecision.DryRun, plan.Decision);
        Assert.Equal(0, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_RedeliveredAfterItsWindow_ItsWorkflowPurged_ThePlanAndChargeStand()
    {
        var request = WorkflowHarness.NewRequest(count: 2);
        var plan = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        await CompletionAsync(plan.InstanceId!);
        Assert.True(await _workflows.PurgeInstanceAsync(plan.InstanceId!, TestContext.Current.CancellationToken)); // as the backend's retention does
        _time.SetUtcNow(request.WindowEnd.AddHours(1));

        var again = await Intake().HandleAsync(request);

        Assert.Equal(plan with { InstanceEndedAt = _time.GetUtcNow() }, again); // seen gone once, so the reconciler stops looking
        Assert.Equal(4, (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value.EndpointHours);
    }

    [Fact]
    public async Task Handle_NextRevisionScheduledButItsPlanNotStored_IsAdoptedToo()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _workflows.RaiseEventAsync(first.InstanceId!, ShadowLifecycleNames.Release, "window over", TestContext.Current.CancellationToken);
        await CompletionAsync(first.InstanceId!);
        var grown = request with { WindowEnd = request.WindowEnd.AddHours(2) }; // the PAE merged a later forecast in: the rest runs as revision 2
        await Assert.ThrowsAsync<StateStoreException>(() => Intake(new FailFirstPlanSave(_store, "\"revision\":2")).HandleAsync(grown));

        await _store.SaveJsonAsync(StateKeys.KillSwitch, new { By = "ops" });
        var plan = await Intake().HandleAsync(grown);

        Assert.Equal((ShadowPlanDecision.Admitted, 2, first.InstanceId + "-r2"), (plan.Decision, plan.Revision, plan.InstanceId));
    }

    /// <summary>Fails the first write of a shadow plan (holding <paramref name="holding"/>), as a store failing right after the workflow was scheduled.</summary>
    private sealed class FailFirstPlanSave(IStateStore inner, string holding = "") : DelegatingStateStore(inner)
    {
        private int _failed;

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
            key.StartsWith(StateKeys.ShadowPlan(string.Empty), StringComparison.Ordinal) && System.Text.Encoding.UTF8.GetString(value.Span).Contains(holding, StringComparison.Ordinal) && Interlocked.Exchange(ref _failed, 1) == 0
                ? Task.FromException(new StateStoreException("the store is not answering"))
                : base.SaveAsync(key, value, etag, cancellationToken);
    }

    [Fact]
    public async Task KillSwitch_AWindowNotStartedWhenItWasEngaged_RunsAsTheNextRevisionOnceItIsOff_TheReleasedOneChargedNothing()
    {
        var request = WorkflowHarness.NewRequest(count: 1); // 12:00–14:00, decided at 11:30
        var first = await Intake().HandleAsync(request);
        await Intake().EngageKillSwitchAsync("ops");
        await CompletionAsync(first.InstanceId!);
        Assert.Contains("kill switch engaged", (await _workflows.GetWorkflowStateAsync(first.InstanceId!, getInputsAndOutputs: true))!.ReadOutputAs<ShadowOutcome>()!.Reason, StringComparison.Ordinal);

        var whileEngaged = await Intake().HandleAsync(request); // a reconcile tick
        await Intake().DisengageKillSwitchAsync();
        var after = await Intake().HandleAsync(request);

        Assert.Equal((ShadowPlanDecision.Refused, "Refused: the kill switch is engaged"), (whileEngaged.Decision, whileEngaged.Reason));
        Assert.Equal((ShadowPlanDecision.Admitted, 2, first.InstanceId + "-r2", request.WindowStart), (after.Decision, after.Revision, after.InstanceId, after.WindowStart));
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2))))!.Value;
        Assert.Equal(after.EndpointHours, budget.EndpointHours);
    }

    [Fact]
    public async Task KillSwitch_AWorkflowWhoseEndAnOperatorMovedByHand_IsNotRunAgainOnceItIsOff()
    {
        var request = WorkflowHarness.NewRequest(count: 1);
        var first = await Intake().HandleAsync(request);
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(first.InstanceId!), new ShadowOverride("extend", "oncall", request.WindowStart) { WindowEnd = request.WindowStart.AddMinutes(30) }); // as a hand-raised extend records it
        await Intake().EngageKillSwitchAsync("ops");
        await CompletionAsync(first.InstanceId!);
        await Intake().DisengageKillSwitchAsync();

        var after = await Intake().HandleAsync(request);

        Assert.Equal((ShadowPlanDecision.Admitted, 1, first.InstanceId), (after.Decision, after.Revision, after.InstanceId));
    }

    [Fact]
    public async Task KillSwitch_AWorkflowAnOperatorAlsoReleasedByHandWhileItDrained_IsChargedUpToTheKillSwitch_AndNotRunAgain()
    {
        var request = WorkflowHarness.NewRequest(count: 1); // 12:00-14:00
        var first = await Intake().HandleAsync(request);
        _time.SetUtcNow(request.WindowStart.AddMinutes(30));
        await Intake().EngageKillSwitchAsync("ops");
        await _store.SaveJsonAsync(StateKeys.ShadowOverride(first.InstanceId!), new ShadowOverride("release", "oncall", request.WindowStart.AddMinutes(40)) { ReleasedAt = request.WindowStart.AddMinutes(40) });
        await CompletionAsync(first.InstanceId!);
        await Intake().DisengageKillSwitchAsync();
        _time.SetUtcNow(request.WindowStart.AddMinutes(50));

        var after = await Intake().HandleAsync(request);

        Assert.Equal((1, first.InstanceId, request.WindowStart.AddMinutes(30)), (after.Revision, after.InstanceId, after.WindowEnd)); // released by hand: not resumed
        Assert.Equal(0.5, after.EndpointHours, 6);
    }

    [Fact]
    public async Task KillSwitchSetInTheStore_IsEnforcedOnTheNextTick()
    {
        var running = await Intake().HandleAsync(WorkflowHarness.NewRequest(count: 1));
        Assert.Empty(await Intake().EnforceKillSwitchAsync()); // not engaged: nothing happens

        await _store.SaveJsonAsync(StateKeys.KillSwitch, new { By = "shadowing sep kill-switch on" }); // as an operator's command writes it
        var released = await Intake().EnforceKillSwitchAsync();
        var again = await Intake().EnforceKillSwitchAsync(); // the next tick: released once, not at every tick

        Assert.Equal([running.InstanceId!], released);
        Assert.Empty(again);
        Assert.Equal("release kill switch engaged", (await CompletionAsync(running.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);
    }

    [Fact]
    public async Task VerdictRelay_RaisesTheNoticeOnItsRunningOwner_AndDropsOnesForEndedInstances()
    {
        var plan = await Intake().HandleAsync(WorkflowHarness.NewRequest(count: 1));
        var relay = new ShadowVerdictRelay(Substitute.For<Core.Messaging.IEventBus>(), _workflows, NullLogger<ShadowVerdictRelay>.Instance);

        await relay.RelayAsync(new ShadowVerdictNotice("orders", "s1", plan.InstanceId!, Verdict.Fail, ["latency p50 +40 %"], _time.GetUtcNow()), TestContext.Current.CancellationToken);
        await _workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Release, "test", TestContext.Current.CancellationToken);
        Assert.Equal("verdict s1 Fail latency p50 +40 %; release test", (await CompletionAsync(plan.InstanceId!)).ReadOutputAs<ShadowOutcome>()!.Reason);

        // The instance has ended: the notice is dropped, not raised on a completed instance.
        await relay.RelayAsync(new ShadowVerdictNotice("orders", "s1", plan.InstanceId!, Verdict.Fail, ["again"], _time.GetUtcNow()), TestContext.Current.CancellationToken);
        await relay.RelayAsync(new ShadowVerdictNotice("orders", "s1", "shadows-orders-unknown", Verdict.Fail, ["unknown"], _time.GetUtcNow()), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task ManyRequestsThroughTheBus_OverAStoreThatFailsAndLosesAnswers_EachDecidedOnceOrDeadLettered_ThenReconciled()
    {
        // The shadow-request path counted at both ends: 20 requests stored and published (as the PAE does) on the
        // in-process bus to the intake, over a store that fails about one call in twelve and loses the answer of about one
        // write in twelve (applied, but the caller hears a failure), so the bus redelivers. Each request must end with a
        // plan or in the dead letters; the reconciler then decides the dead-lettered ones from the stored requests. In
        // the end every request has one plan, one workflow and one charge to the budget: nothing lost, nothing twice.
        _rails = new ShadowGuardRails { MaxShadowsPerService = 100, MaxShadowsTotal = 100, EndpointHoursPerDay = 1000 };
        var ct = TestContext.Current.CancellationToken;
        var start = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        var requests = Enumerable.Range(1, 20).Select(i => WorkflowHarness.NewRequest(count: 1) with
        {
            Id = ShadowRequest.IdOf($"svc{i}", start),
            Service = $"svc{i}",
            WindowEnd = start.AddHours(1),
        }).ToList();
        var chaotic = new ChaoticStateStore(_store);
        await using var bus = new Shadowing.Embedded.Messaging.InProcessEventBus(
            _store, TimeProvider.System, Options.Create(new Shadowing.Embedded.Messaging.InProcessEventBusOptions { MaxAttempts = 4, InitialBackoff = TimeSpan.FromMilliseconds(1) }), NullLogger<Shadowing.Embedded.Messaging.InProcessEventBus>.Instance);
        var intake = Intake(chaotic);
        using var subscription = bus.Subscribe<ShadowRequest>(Shadowing.Core.Messaging.Topics.ShadowRequests, ShadowRequestSubscription.Subscriber, (r, c) => intake.HandleAsync(r, c));

        foreach (var request in requests)
        {
            await _store.SaveJsonAsync(StateKeys.ShadowRequestsPrefix + request.Id, request, cancellationToken: ct);
            await bus.PublishAsync(Shadowing.Core.Messaging.Topics.ShadowRequests, request, ct);
        }

        async Task<(Shadowing.TestUtilities.Messaging.DeliveryCheck Check, List<ShadowPlan> Plans)> CheckAsync()
        {
            var plans = new List<ShadowPlan>();
            foreach (var request in requests)
            {
                if ((await _store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id), ct))?.Value is { } plan)
                {
                    plans.Add(plan);
                }
            }

            var letters = new List<string>();
            foreach (var key in await _store.ListKeysAsync($"{StateKeys.DeadLetterPrefix}{Shadowing.Core.Messaging.Topics.ShadowRequests}/", ct))
            {
                letters.Add((await _store.GetJsonAsync<Shadowing.Embedded.Messaging.DeadLetter>(key, ct))!.Value.Data.GetProperty("id").GetString()!);
            }

            return (Shadowing.TestUtilities.Messaging.DeliveryCheck.Of(requests.Select(r => r.Id), plans.Select(p => p.RequestId), letters), plans);
        }

        (Shadowing.TestUtilities.Messaging.DeliveryCheck Check, List<ShadowPlan> Plans) result = (null!, []);
        await Shadowing.TestUtilities.Time.Eventually.WaitUntilAsync(async () => (result = await CheckAsync()).Check.Lost.Count == 0, "every request decided or dead-lettered", TimeSpan.FromSeconds(60), ct);
        Assert.True(result.Check.Holds, result.Check.ToString());
        Assert.True(chaotic.Failures > 0 && chaotic.LostAnswers > 0, "the store failed calls and lost answers");
        var throughTheBus = result.Check;

        // The store answers again; the reconciler's tick decides what the bus gave up on.
        var reconciled = await Intake().ReconcileOpenRequestsAsync(ct);
        result = await CheckAsync();
        Assert.Equal(requests.Count, result.Plans.Count);
        Assert.All(result.Plans, plan => Assert.Equal(ShadowPlanDecision.Admitted, plan.Decision));
        var instances = (await _workflows.ListInstanceIdsAsync(cancellation: ct)).InstanceIds;
        Assert.Equal(requests.Select(r => ShadowLifecycleNames.InstanceId(r)).Order(), instances.Order());
        var budget = (await _store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(new DateOnly(2026, 12, 2)), ct))!.Value;
        Assert.Equal(requests.Count, budget.EndpointHours); // one endpoint for one hour each, charged once
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"shadow requests through the bus: {throughTheBus}; the store failed {chaotic.Failures} calls and lost {chaotic.LostAnswers} answers; the reconciler decided {reconciled.Count} more; " +
            $"{result.Plans.Count} plans, {instances.Count} workflows, budget {budget.EndpointHours} endpoint-hours");
    }

    private ShadowRequestIntake Intake(IStateStore? store = null, IDaprWorkflowClient? workflows = null)
    {
        var rails = Substitute.For<IOptionsMonitor<ShadowGuardRails>>();
        rails.CurrentValue.Returns(_ => _rails);
        return new ShadowRequestIntake(store ?? _store, workflows ?? _workflows, rails, _time, NullLogger<ShadowRequestIntake>.Instance);
    }

    /// <summary>A store whose reads yield before answering, so concurrent callers interleave between read and write.</summary>
    private sealed class YieldingStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        public override async Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, cancellationToken);
            return await base.GetAsync(key, cancellationToken);
        }
    }

    /// <summary>Stands in for the lifecycle: records extend, resize and verdict, returns on release.</summary>
    /// <summary>A release with this reason makes the stand-in drain until the test raises <see cref="Drained"/>.</summary>
    private const string DrainSlowly = "drain slowly";

    private const string Drained = "test-drained";

    private static async Task<ShadowOutcome> StandInAsync(WorkflowContext context, ShadowRequest request)
    {
        var seen = new List<string>();
        var windowEnd = request.WindowEnd;
        var received = 0;
        var extend = context.WaitForExternalEventAsync<ExtendEvent>(ShadowLifecycleNames.Extend);
        var resize = context.WaitForExternalEventAsync<ResizeEvent>(ShadowLifecycleNames.Resize);
        var verdict = context.WaitForExternalEventAsync<VerdictEvent>(ShadowLifecycleNames.Verdict);
        var release = context.WaitForExternalEventAsync<string>(ShadowLifecycleNames.Release);
        while (true)
        {
            var fired = await Task.WhenAny(extend, resize, verdict, release);
            if (fired == release)
            {
                var reason = await release;
                seen.Add($"release {reason}");
                if (reason == DrainSlowly)
                {
                    await context.WaitForExternalEventAsync<string>(Drained); // as the lifecycle drains: events now go unheard
                }

                return new ShadowOutcome
                {
                    RequestId = request.Id, Service = request.Service, Served = true, Reason = string.Join("; ", seen), Shadows = [], WindowEnd = windowEnd,
                    UnheldExtension = extend.IsCompleted ? (await extend).WindowEnd : null,
                    ExtensionsReceived = Math.Max(received, extend.IsCompleted ? (await extend).Number ?? 0 : 0),
                };
            }

            if (fired == extend)
            {
                windowEnd = (await extend).WindowEnd;
                received = Math.Max(received, (await extend).Number ?? 0);
                seen.Add($"extend {windowEnd:O}");
                extend = context.WaitForExternalEventAsync<ExtendEvent>(ShadowLifecycleNames.Extend);
            }
            else if (fired == verdict)
            {
                var v = await verdict;
                seen.Add($"verdict {v.ShadowId} {v.Check.Verdict} {v.Check.Reasons[0]}");
                verdict = context.WaitForExternalEventAsync<VerdictEvent>(ShadowLifecycleNames.Verdict);
            }
            else
            {
                seen.Add($"resize {(await resize).Count}");
                resize = context.WaitForExternalEventAsync<ResizeEvent>(ShadowLifecycleNames.Resize);
            }
        }
    }

    private async Task<WorkflowState> CompletionAsync(string instanceId)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        return await _workflows.WaitForWorkflowCompletionAsync(instanceId, getInputsAndOutputs: true, cancellation: timeout.Token);
    }
}
