using Dapr.Workflow;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.State;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Activities;

/// <summary>Activities run at least once: each one run twice leaves the store as one run does, and says nothing twice.</summary>
public sealed class ActivityIdempotenceTests
{
    private const string Owner = "shadows-orders-20261202T1200Z";
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly IShadowProvisioner _provisioner = Substitute.For<IShadowProvisioner>();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 11, 30, 0, TimeSpan.Zero));
    private readonly WorkflowActivityContext _context = Substitute.For<WorkflowActivityContext>();
    private readonly ShadowStep _step = new("orders", "s1", Owner, new ShadowResources());

    public ActivityIdempotenceTests()
    {
        _provisioner.ProvisionAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>()).Returns(c => Provisioned(c.Arg<ProvisionSpec>(), 5201));
        _provisioner.ResizeAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>()).Returns(c => Provisioned(c.Arg<ProvisionSpec>(), 5202));
    }

    private RoutingTableStore Tables => new(_store, _bus);

    [Fact]
    public async Task Provision_Twice_OneEntryOwnedByTheWorkflowInProvisioning()
    {
        await SeedAsync(mirror: null);
        var activity = new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time);

        await activity.RunAsync(_context, _step);
        await activity.RunAsync(_context, _step);

        var shadow = Assert.Single(await ShadowsAsync(), s => s.Id == "s1");
        Assert.Equal(("s1", "http://127.0.0.1:5201", Owner, ShadowState.Provisioning), (shadow.Id, shadow.Address, shadow.Owner, shadow.State));
        Assert.Null(await _store.GetAsync(ProvisionShadowActivity.ClaimKey("orders", "s1"))); // in the table now: the claim is done
    }

    [Fact]
    public async Task Provision_RunAgainLater_KeepsWhatLaterStepsSet_AndStartsNothingForAShadowTakenDown()
    {
        await SeedAsync(mirror: null);
        var activity = new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time);
        await activity.RunAsync(_context, _step);
        await Tables.UpdateAsync("orders", t => t! with { Shadows = [.. t.Shadows.Select(s => s.Id == "s1" ? s with { DataIsolated = true, DataMasked = true, MaxConcurrency = 7 } : s)] });

        // Again while it runs: the copy of the data keeps real users off it still, and the operator's limit stays.
        await activity.RunAsync(_context, _step);
        var shadow = (await ShadowsAsync()).Single(s => s.Id == "s1");
        Assert.Equal((true, true, 7), (shadow.DataIsolated, shadow.DataMasked, shadow.MaxConcurrency));

        // Again once it was retired: nothing is started for nobody to retire, and no claim is left behind.
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Retired, _time.GetUtcNow());
        _provisioner.ClearReceivedCalls();
        await activity.RunAsync(_context, _step);
        await _provisioner.DidNotReceive().ProvisionAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>());
        Assert.Null(await _store.GetAsync(ProvisionShadowActivity.ClaimKey("orders", "s1")));
    }

    [Fact]
    public async Task Provision_WhileTheProvisionerWorks_TheShadowIsClaimedByItsWorkflow()
    {
        await SeedAsync(mirror: null);
        string? claimant = null;
        _provisioner.ProvisionAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>()).Returns(async c =>
        {
            claimant = (await _store.GetJsonAsync<string>(ProvisionShadowActivity.ClaimKey("orders", "s1")))?.Value;
            return Provisioned(c.Arg<ProvisionSpec>(), 5201);
        });

        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);

        Assert.Equal(Owner, claimant);
    }

    [Fact]
    public async Task StepsToPreWarmed_EachTwice_SameStatesAndOneMirrorTarget()
    {
        await SeedAsync(mirror: new MirrorPolicy { Enabled = true, Percent = 20, Targets = ["other"] });
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        var sync = new SyncShadowDataActivity(Tables, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time);
        var mirror = new EnableMirroringActivity(Tables, _store, _time);
        var mark = new MarkPreWarmedActivity(Tables, _store, _time);

        Assert.Equal("no data sync requested (Shadowing:Sep:Data:orders:Mode)", await sync.RunAsync(_context, _step));
        await sync.RunAsync(_context, _step);
        Assert.Equal(ShadowState.Syncing, (await ShadowsAsync()).Single(s => s.Id == "s1").State);
        await mirror.RunAsync(_context, new MirrorStep("orders", "s1", 10));
        await mirror.RunAsync(_context, new MirrorStep("orders", "s1", 10));
        var table = (await Tables.GetAsync("orders"))!.Value;
        Assert.Equal(ShadowState.WarmingUp, table.Shadows.Single(s => s.Id == "s1").State);
        Assert.Equal(["other", "s1"], table.Mirror!.Targets);
        Assert.Equal(20, table.Mirror.Percent); // a larger share is kept

        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Validating, _time.GetUtcNow());
        var readyAt = _time.GetUtcNow();
        Assert.Equal(readyAt, await mark.RunAsync(_context, _step));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(readyAt, await mark.RunAsync(_context, _step)); // a rerun reports when the table made it ready, not its own time
        Assert.Equal(ShadowState.PreWarmed, (await ShadowsAsync()).Single(s => s.Id == "s1").State);
    }

    [Fact]
    public async Task LateCopies_OfStepsTheShadowMovedPast_LeaveItWhereItIs_AndActOnNothing()
    {
        await SeedAsync(mirror: null);
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Active, _time.GetUtcNow()); // promoted
        var sync = new SyncShadowDataActivity(Tables, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time);
        var mirror = new EnableMirroringActivity(Tables, _store, _time);
        var mark = new MarkPreWarmedActivity(Tables, _store, _time);

        // Moved by the shortest legal path these went back through Failed and Provisioning, or demoted the promoted shadow.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => sync.RunAsync(_context, _step));
        Assert.Contains("Shadow 's1' of 'orders' is Active", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => mirror.RunAsync(_context, new MirrorStep("orders", "s1", 10)));
        await mark.RunAsync(_context, _step); // made ready by its first run and promoted before this retry: done, not demoted
        var table = (await Tables.GetAsync("orders"))!.Value;
        Assert.Equal(ShadowState.Active, table.Shadows.Single(s => s.Id == "s1").State);
        Assert.Null(table.Mirror); // not put on a policy nobody would take it off
        Assert.Null(await _store.GetAsync(EnableMirroringActivity.BeforeKey("orders")));

        // Retired with a failure (interim Failed): a late remediation restarts nothing, a late drain leaves it failed.
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Failed, _time.GetUtcNow());
        await Assert.ThrowsAsync<InvalidOperationException>(() => mark.RunAsync(_context, _step));
        await Assert.ThrowsAsync<InvalidOperationException>(() => new RemediateShadowActivity(_provisioner, Tables, _time).RunAsync(_context, _step));
        await _provisioner.DidNotReceive().ResizeAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>());
        await new DrainShadowActivity(Tables, _store, _time).RunAsync(_context, _step);
        Assert.Equal(ShadowState.Failed, (await ShadowsAsync()).Single(s => s.Id == "s1").State);

        // Taken out of the table by hand: nothing is left to drain (the drain failed, and with it the whole workflow at its end).
        await Tables.UpdateAsync("orders", t => t! with { Shadows = [.. t.Shadows.Where(s => s.Id != "s1")] });
        Assert.True(await new DrainShadowActivity(Tables, _store, _time).RunAsync(_context, _step));
    }

    [Fact]
    public async Task Validate_RunAgainAfterTheShadowWasMadePreWarmed_LeavesItInRoutingAndStoresNoVerdict()
    {
        await SeedAsync(mirror: null);
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.PreWarmed, _time.GetUtcNow());
        var validate = new ValidateShadowActivity(new ShadowValidator(_store, _bus, _time), Tables, _provisioner, _time);

        var check = await validate.RunAsync(_context, new WarmupStep("orders", "s1", _time.GetUtcNow().AddMinutes(-10)));

        Assert.Equal(Verdict.Inconclusive, check.Verdict);
        Assert.Equal(ShadowState.PreWarmed, (await ShadowsAsync()).Single(s => s.Id == "s1").State);
        Assert.Empty(await _store.ListKeysAsync(StateKeys.VerdictsPrefix));
    }

    [Fact]
    public void Cover_OffOrAbsent_OnForThisShadowOnly_OnAlready_KeepsTargetsAndTheLargerShare()
    {
        Assert.Equal((true, 10.0, "s1"), Parts(EnableMirroringActivity.Cover(null, "s1", 10)));
        Assert.Equal((true, 25.0, "s1"), Parts(EnableMirroringActivity.Cover(new MirrorPolicy { Enabled = false, Percent = 50, Targets = ["old"] }, "s1", 25)));
        Assert.Equal((true, 50.0, ""), Parts(EnableMirroringActivity.Cover(new MirrorPolicy { Percent = 50 }, "s1", 25))); // empty: every shadow already
        Assert.Equal((true, 25.0, "a,s1"), Parts(EnableMirroringActivity.Cover(new MirrorPolicy { Percent = 5, Targets = ["a"] }, "s1", 25)));

        static (bool, double, string) Parts(MirrorPolicy p) => (p.Enabled, p.Percent, string.Join(',', p.Targets));
    }

    [Fact]
    public async Task MirrorPolicy_OffWithAHandWrittenShadow_OnlyTheWorkflowShadowIsMirrored_AndThePolicyComesBackAfterIt()
    {
        await Tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "manual", Address = "http://127.0.0.1:3", State = ShadowState.PreWarmed }],
            Mirror = new MirrorPolicy { Enabled = false, Percent = 2, IgnoreFields = ["served"] },
        });
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s1", 10));
        var during = (await Tables.GetAsync("orders"))!.Value.Mirror!;

        await new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time).RunAsync(_context, new RetireStep("orders", "s1"));
        var after = (await Tables.GetAsync("orders"))!.Value.Mirror!;

        Assert.Equal((true, 10.0, "s1"), (during.Enabled, during.Percent, string.Join(',', during.Targets)));
        Assert.Equal((false, 2.0, 0, "served"), (after.Enabled, after.Percent, after.Targets.Count, after.IgnoreFields.Single()));
        Assert.Null(await _store.GetAsync(EnableMirroringActivity.BeforeKey("orders")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MirrorPolicy_ChangedByAnOperatorDuringTheWindow_KeepsTheirShareAndTargets_SepsOwnGoBack(bool operatorChanges)
    {
        // On at 5 % for "a"; SEP covers s1 and s2 at 10 %. The operator raises the share to 30 % and names "b" between the
        // two covers (so s2's cover leaves the share as it is). Both used to be undone when SEP put the policy back.
        await Tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "a", Address = "http://127.0.0.1:3", State = ShadowState.PreWarmed }, new ShadowEndpoint { Id = "b", Address = "http://127.0.0.1:4", State = ShadowState.PreWarmed }],
            Mirror = new MirrorPolicy { Enabled = true, Percent = 5, Targets = ["a"] },
        });
        var provision = new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time);
        var enable = new EnableMirroringActivity(Tables, _store, _time);
        await provision.RunAsync(_context, _step);
        await provision.RunAsync(_context, _step with { ShadowId = "s2" });
        await enable.RunAsync(_context, new MirrorStep("orders", "s1", 10));
        if (operatorChanges)
        {
            await Tables.UpdateAsync("orders", t => t! with { Mirror = t.Mirror! with { Percent = 30, Targets = [.. t.Mirror.Targets, "b"] } });
        }

        await enable.RunAsync(_context, new MirrorStep("orders", "s2", 10));
        var retire = new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time);
        await retire.RunAsync(_context, new RetireStep("orders", "s1"));
        await retire.RunAsync(_context, new RetireStep("orders", "s2"));

        var after = (await Tables.GetAsync("orders"))!.Value.Mirror!;
        Assert.Equal(operatorChanges ? (true, 30.0, "a,b") : (true, 5.0, "a"), (after.Enabled, after.Percent, string.Join(',', after.Targets)));
        Assert.Null(await _store.GetAsync(EnableMirroringActivity.BeforeKey("orders")));
    }

    [Fact]
    public async Task RetireWithFailure_Twice_OneAlertProcessStoppedEntryRetiredAndUntargeted()
    {
        await SeedAsync(mirror: new MirrorPolicy { Enabled = true, Percent = 10, Targets = ["s1"] });
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await Tables.UpdateAsync("orders", t => t! with { Mirror = new MirrorPolicy { Enabled = true, Percent = 10, Targets = ["s1"] } });
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Validating, _time.GetUtcNow());
        var retire = new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time);
        var step = new RetireStep("orders", "s1", "failed validation after 2 remediation(s): error rate");

        await retire.RunAsync(_context, step);
        await retire.RunAsync(_context, step);

        var table = (await Tables.GetAsync("orders"))!.Value;
        Assert.Equal(ShadowState.Retired, table.Shadows[0].State);
        Assert.Equal((false, 0), (table.Mirror!.Enabled, table.Mirror.Targets.Count)); // its list named no one else
        await _provisioner.Received(2).RetireAsync("orders", "s1", Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Kind == AlertKind.ShadowFailed && a.Endpoint == "s1" && a.Reasons.Single() == step.Failure), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RetireWithFailure_RerunAfterItsAlertWentOut_SendsTheSameAlert_SameIdempotencyKey()
    {
        await SeedAsync(mirror: null);
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        var sent = new List<Alert>();
        _bus.PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>())
            .Returns(c =>
            {
                sent.Add(c.Arg<Alert>());
                return sent.Count == 1 ? Task.FromException(new InvalidOperationException("the host died after the send")) : Task.CompletedTask;
            });
        var retire = new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time);
        var step = new RetireStep("orders", "s1", "could not be validated: store down");

        await Assert.ThrowsAsync<InvalidOperationException>(() => retire.RunAsync(_context, step));
        _time.Advance(TimeSpan.FromMinutes(1)); // the rerun comes later
        await retire.RunAsync(_context, step);

        Assert.Equal(2, sent.Count); // at least once: a receiver drops the second by its key
        Assert.Equal(AlertOutbox.IdOf(sent[0]), AlertOutbox.IdOf(sent[1]));
        Assert.Equal(ShadowState.Retired, (await ShadowsAsync())[0].State);
    }

    [Fact]
    public async Task RetireWithFailure_WhileTheBusIsDown_Finishes_AndItsAlertIsSentOnceByTheOutbox()
    {
        await SeedAsync(mirror: null);
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        var calls = 0;
        _bus.PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>())
            .Returns(_ => ++calls == 1 ? Task.FromException(new EventBusException("bus down")) : Task.CompletedTask);
        var retire = new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time);
        var step = new RetireStep("orders", "s1", "could not be validated: store down");

        await retire.RunAsync(_context, step); // a bus outage no longer fails the retirement (and the workflow with it)
        await retire.RunAsync(_context, step);
        Assert.Equal(ShadowState.Retired, (await ShadowsAsync())[0].State);
        Assert.Single(await _store.ListKeysAsync(AlertOutbox.PendingPrefix));
        Assert.Equal(1, await new AlertOutbox(_store, _bus).FlushAsync());

        Assert.Equal(2, calls); // failed once, sent once by the flush, not again by the rerun
        Assert.NotNull(await _store.GetAsync(RetireShadowActivity.AlertedKey("orders", "s1")));
        Assert.Empty(await _store.ListKeysAsync(AlertOutbox.PendingPrefix));
    }

    [Fact]
    public async Task Retire_NeverReachedTheTable_StopsTheProcessAndAlerts()
    {
        await SeedAsync(mirror: null);

        await new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time).RunAsync(_context, new RetireStep("orders", "s9", "could not be started: exited with code 1"));

        await _provisioner.Received(1).RetireAsync("orders", "s9", Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "s9"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Remediate_FromPreWarmed_LeavesRoutingFirstThenRestartsAndRecordsTheAddress()
    {
        await SeedAsync(mirror: null);
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.PreWarmed, _time.GetUtcNow());
        var states = new List<ShadowState>();
        _provisioner.ResizeAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>()).Returns(async c =>
        {
            states.Add((await ShadowsAsync())[0].State); // what the router sees while the process restarts
            return Provisioned(c.Arg<ProvisionSpec>(), 5202);
        });
        var remediate = new RemediateShadowActivity(_provisioner, Tables, _time);

        await remediate.RunAsync(_context, _step with { Resources = new ShadowResources(Size: 2) });
        await remediate.RunAsync(_context, _step with { Resources = new ShadowResources(Size: 2) });

        Assert.Equal([ShadowState.WarmingUp, ShadowState.WarmingUp], states);
        var shadow = (await ShadowsAsync())[0];
        Assert.Equal((ShadowState.WarmingUp, "http://127.0.0.1:5202"), (shadow.State, shadow.Address));
    }

    [Fact]
    public async Task Amplify_SwitchesToPacedPubSub_TheLastShadowOutOfWarmupPutsThePolicyBack()
    {
        await SeedAsync(mirror: null);
        var provision = new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time);
        await provision.RunAsync(_context, _step);
        await provision.RunAsync(_context, _step with { ShadowId = "s2" });
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s1", 10));
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s2", 10));
        var amplify = new AmplifyMirroringActivity(Tables, _store);

        await amplify.RunAsync(_context, new AmplifyStep("orders", "s1", 2.5));
        await amplify.RunAsync(_context, new AmplifyStep("orders", "s2", 1.5)); // a second shadow: the faster pace stays
        var mirror = (await Tables.GetAsync("orders"))!.Value.Mirror!;
        Assert.Equal((MirrorTransport.PubSub, 2.5, 1), (mirror.Transport, mirror.TargetRatePerSecond, mirror.Amplify));

        var mark = new MarkPreWarmedActivity(Tables, _store, _time);
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Validating, _time.GetUtcNow());
        await mark.RunAsync(_context, _step);
        Assert.Equal(MirrorTransport.PubSub, (await Tables.GetAsync("orders"))!.Value.Mirror!.Transport); // s2 still warms up

        await new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time).RunAsync(_context, new RetireStep("orders", "s2", null));
        mirror = (await Tables.GetAsync("orders"))!.Value.Mirror!;
        Assert.Equal((MirrorTransport.Direct, (double?)null, true), (mirror.Transport, mirror.TargetRatePerSecond, mirror.Enabled));
        Assert.Null(await _store.GetAsync(AmplifyMirroringActivity.Key("orders")));
    }

    [Fact]
    public async Task Amplify_ShadowRetiredWhileAnotherLeavesWarmup_ThePolicyIsStillPutBack()
    {
        await SeedAsync(mirror: null);
        var provision = new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time);
        await provision.RunAsync(_context, _step);
        await provision.RunAsync(_context, _step with { ShadowId = "s2" });
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s1", 10));
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s2", 10));
        await new AmplifyMirroringActivity(Tables, _store).RunAsync(_context, new AmplifyStep("orders", "s1", 2.5));
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Validating, _time.GetUtcNow());

        // s2 is retired (released while warming up); as its process stops, s1 passes validation and is marked PreWarmed.
        _provisioner.RetireAsync("orders", "s2", Arg.Any<CancellationToken>()).Returns(async _ => await new MarkPreWarmedActivity(Tables, _store, _time).RunAsync(_context, _step));
        await new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time).RunAsync(_context, new RetireStep("orders", "s2", null));

        // Each found the other still in warm-up; before, the amplified policy stayed for good.
        Assert.Equal(MirrorTransport.Direct, (await Tables.GetAsync("orders"))!.Value.Mirror!.Transport);
        Assert.Null(await _store.GetAsync(AmplifyMirroringActivity.Key("orders")));
    }

    [Fact]
    public async Task Amplify_AShadowPlacedByHandBeingValidated_DoesNotKeepTheBoostOn()
    {
        await SeedAsync(mirror: null);
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await Tables.UpdateAsync("orders", t => t! with { Shadows = [.. t.Shadows, new ShadowEndpoint { Id = "canary", Address = "http://10.0.0.5:8080", State = ShadowState.Validating, MaxConcurrency = 4 }] });
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s1", 10));
        await new AmplifyMirroringActivity(Tables, _store).RunAsync(_context, new AmplifyStep("orders", "s1", 2.5));
        await Tables.MoveShadowAsync("orders", "s1", ShadowState.Validating, _time.GetUtcNow());

        await new MarkPreWarmedActivity(Tables, _store, _time).RunAsync(_context, _step);

        // The operator's canary may stay in Validating for days: only the workflows' own shadows hold the boost on.
        Assert.Equal(MirrorTransport.Direct, (await Tables.GetAsync("orders"))!.Value.Mirror!.Transport);
        Assert.Null(await _store.GetAsync(AmplifyMirroringActivity.Key("orders")));
    }

    [Fact]
    public async Task Amplify_TheOnlyShadowRetiredWhileAmplified_TheOperatorsPolicyComesBackWhole()
    {
        await SeedAsync(mirror: new MirrorPolicy { Enabled = true, Percent = 5, Transport = MirrorTransport.Direct });
        await new ProvisionShadowActivity(_provisioner, Tables, _store, Options.Create(new ShadowLifecycleOptions()), _time).RunAsync(_context, _step);
        await new EnableMirroringActivity(Tables, _store, _time).RunAsync(_context, new MirrorStep("orders", "s1", 20));
        await new AmplifyMirroringActivity(Tables, _store).RunAsync(_context, new AmplifyStep("orders", "s1", 2.5));

        // Still warming up when it ends (failed, released): the retirement is the last word on the policy.
        await new RetireShadowActivity(_provisioner, Tables, _store, _bus, Data.ShadowDataServiceTests.Create(_store, Tables, _time), _time).RunAsync(_context, new RetireStep("orders", "s1", "could not be warmed up"));

        var mirror = (await Tables.GetAsync("orders"))!.Value.Mirror!;
        Assert.Equal((true, 5.0, MirrorTransport.Direct, (double?)null, 1), (mirror.Enabled, mirror.Percent, mirror.Transport, mirror.TargetRatePerSecond, mirror.Amplify));
        Assert.Null(await _store.GetAsync(AmplifyMirroringActivity.Key("orders")));
    }

    private static ProvisionedShadow Provisioned(ProvisionSpec spec, int port) => new()
    {
        Service = spec.Service,
        ShadowId = spec.ShadowId,
        Address = $"http://127.0.0.1:{port}",
        Resources = spec.Resources,
        Handle = "1@1",
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    private Task SeedAsync(MirrorPolicy? mirror) => Tables.PutAsync(new RoutingTable
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
        Shadows = mirror?.Targets.Contains("other") == true ? [new ShadowEndpoint { Id = "other", Address = "http://127.0.0.1:3", State = ShadowState.WarmingUp }] : [],
        Mirror = mirror?.Targets.Contains("s1") == true ? null : mirror,
    });

    private async Task<IReadOnlyList<ShadowEndpoint>> ShadowsAsync() => (await Tables.GetAsync("orders"))!.Value.Shadows;
}
