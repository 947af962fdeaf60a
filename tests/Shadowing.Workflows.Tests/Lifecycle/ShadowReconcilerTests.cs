using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Data;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Embedded.Workflows;
using Shadowing.TestUtilities.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Lifecycle;

public sealed class ShadowReconcilerTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly IShadowProvisioner _provisioner = Substitute.For<IShadowProvisioner>();
    private readonly IDaprWorkflowClient _workflows = Substitute.For<IDaprWorkflowClient>(); // knows no instance: every owner has ended

    [Fact]
    public async Task Sweep_ShadowOfAnEndedWorkflow_RetiredUntargetedAlertedOnce_OldUnownedProcessStopped_YoungOneLeftAlone()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed, Owner = "shadows-orders-gone" }],
            Mirror = new MirrorPolicy { Enabled = true, Percent = 10, Targets = ["s1"] },
        });
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns(
        [
            Running("old", Now - TimeSpan.FromMinutes(5)),
            Running("young", Now - TimeSpan.FromSeconds(5)), // its activity may be about to add it to the table
        ]);
        var reconciler = new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

        await reconciler.SweepAsync(TestContext.Current.CancellationToken);
        await reconciler.SweepAsync(TestContext.Current.CancellationToken);

        var table = (await tables.GetAsync("orders"))!.Value;
        Assert.Equal(ShadowState.Retired, table.Shadows.Single().State);
        Assert.Equal((false, 0), (table.Mirror!.Enabled, table.Mirror.Targets.Count));
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Kind == AlertKind.ShadowFailed && a.Reasons.Single().Contains("shadows-orders-gone ended without retiring it")), Arg.Any<CancellationToken>());
        await _provisioner.Received().RetireAsync("orders", "s1", Arg.Any<CancellationToken>());
        await _provisioner.Received().RetireAsync("orders", "old", Arg.Any<CancellationToken>());
        await _provisioner.DidNotReceive().RetireAsync("orders", "young", Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Sweep_OneRoutingTableCannotBeRead_TheOtherServicesAreReconciled_ItsProcessesNotSweptAsOrphans_AndThePassFails()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed, Owner = "shadows-orders-gone" }],
        });

        // Written by a newer version, with a shadow state this one does not know: its shadow's process is not an orphan.
        await _store.SaveAsync("routing/payments", """{"service":"payments","production":[],"shadows":[{"id":"s9","address":"http://127.0.0.1:3","state":"Hibernating","owner":"shadows-payments-1"}]}"""u8.ToArray(), etag: null);
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([Running("old", Now - TimeSpan.FromMinutes(5)), Running("s9", Now - TimeSpan.FromMinutes(5)) with { Service = "payments" }]);
        var reconciler = new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

        var error = await Assert.ThrowsAsync<AggregateException>(() => reconciler.ReconcileAsync(restartDead: false, TestContext.Current.CancellationToken));

        Assert.IsType<System.Text.Json.JsonException>(Assert.Single(error.InnerExceptions), exactMatch: false);
        Assert.Equal(ShadowState.Retired, (await tables.GetAsync("orders"))!.Value.Shadows.Single().State);
        await _provisioner.Received().RetireAsync("orders", "s1", Arg.Any<CancellationToken>());
        await _provisioner.Received().RetireAsync("orders", "old", Arg.Any<CancellationToken>());
        await _provisioner.DidNotReceive().RetireAsync("payments", Arg.Any<string>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Sweep_OneOrphanThatCannotBeStopped_TheOthersStillAre_AndThePassFailsSoTheTickTriesAgain()
    {
        var tables = new RoutingTableStore(_store, _bus);
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([Running("stuck", Now - TimeSpan.FromMinutes(5)), Running("old", Now - TimeSpan.FromMinutes(5))]);
        _provisioner.RetireAsync("orders", "stuck", Arg.Any<CancellationToken>()).Returns(Task.FromException(new ProvisioningException("the platform refused: its app was renamed")));
        var reconciler = new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

        var error = await Assert.ThrowsAsync<AggregateException>(() => reconciler.ReconcileAsync(restartDead: false, TestContext.Current.CancellationToken));

        Assert.IsType<ProvisioningException>(Assert.Single(error.InnerExceptions));
        await _provisioner.Received().RetireAsync("orders", "old", Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Sweep_StartPassWhoseOnlyFailureIsAnOrphan_IsNotRepeated_SoRunningShadowsAreNotStartedAgainEveryTick()
    {
        var (host, workflows, owner) = await StartHoldingWorkflowAsync();
        using var _ = host;
        try
        {
            var tables = new RoutingTableStore(_store, _bus);
            await tables.PutAsync(new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed, Owner = owner }],
            });
            _provisioner.ProvisionAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>()).Returns(Running("s1", Now - TimeSpan.FromHours(1)));
            _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([Running("s1", Now - TimeSpan.FromHours(1)), Running("stuck", Now - TimeSpan.FromMinutes(5))]);
            _provisioner.RetireAsync("orders", "stuck", Arg.Any<CancellationToken>()).Returns(Task.FromException(new ProvisioningException("the platform refused")));
            var reconciler = new ShadowReconciler(tables, _provisioner, workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

            await Assert.ThrowsAsync<AggregateException>(() => reconciler.SweepAsync(TestContext.Current.CancellationToken));
            await Assert.ThrowsAsync<AggregateException>(() => reconciler.SweepAsync(TestContext.Current.CancellationToken));

            await _provisioner.Received(1).ProvisionAsync(Arg.Is<ProvisionSpec>(p => p.ShadowId == "s1"), Arg.Any<CancellationToken>()); // adopted at start only
            await _provisioner.Received(2).RetireAsync("orders", "stuck", Arg.Any<CancellationToken>());
        }
        finally
        {
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Sweep_AfterAStartPassThatCouldNotReadATable_ItsShadowsAreStartedOnceItCanBeRead()
    {
        var (host, workflows, owner) = await StartHoldingWorkflowAsync();
        using var _ = host;
        try
        {
            var tables = new RoutingTableStore(_store, _bus);
            var table = new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.WarmingUp, Owner = owner }],
            };

            // At the host's start the table cannot be read (a newer version's state); an operator then repairs it.
            var unreadable = System.Text.Encoding.UTF8.GetString(Shadowing.Core.Serialization.ShadowingJson.Serialize(table)).Replace("WarmingUp", "Hibernating", StringComparison.OrdinalIgnoreCase);
            await _store.SaveAsync(StateKeys.Routing("orders"), System.Text.Encoding.UTF8.GetBytes(unreadable), etag: null);
            _provisioner.ProvisionAsync(Arg.Any<ProvisionSpec>(), Arg.Any<CancellationToken>()).Returns(Running("s1", Now - TimeSpan.FromHours(1)));
            _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([]);
            var reconciler = new ShadowReconciler(tables, _provisioner, workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

            await Assert.ThrowsAsync<AggregateException>(() => reconciler.SweepAsync(TestContext.Current.CancellationToken));
            await tables.PutAsync(table);
            await reconciler.SweepAsync(TestContext.Current.CancellationToken); // its shadow gets the start pass now
            await reconciler.SweepAsync(TestContext.Current.CancellationToken); // sweeps only

            await _provisioner.Received(1).ProvisionAsync(Arg.Is<ProvisionSpec>(p => p.ShadowId == "s1"), Arg.Any<CancellationToken>());
        }
        finally
        {
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Sweep_AfterAStartPassThatCouldNotStartOneShadow_TicksTryOnlyThatOne()
    {
        var (host, workflows, owner) = await StartHoldingWorkflowAsync();
        using var _ = host;
        try
        {
            var tables = new RoutingTableStore(_store, _bus);
            await tables.PutAsync(new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
                Shadows =
                [
                    new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.WarmingUp, Owner = owner },
                    new ShadowEndpoint { Id = "broken", Address = "http://127.0.0.1:10", State = ShadowState.WarmingUp, Owner = owner },
                ],
            });
            _provisioner.ProvisionAsync(Arg.Is<ProvisionSpec>(p => p.ShadowId == "s1"), Arg.Any<CancellationToken>()).Returns(Running("s1", Now - TimeSpan.FromHours(1)));
            _provisioner.ProvisionAsync(Arg.Is<ProvisionSpec>(p => p.ShadowId == "broken"), Arg.Any<CancellationToken>()).Returns(
                Task.FromException<ProvisionedShadow>(new ProvisioningException("its template is broken")),
                Task.FromResult(Running("broken", Now - TimeSpan.FromHours(1))));
            _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([Running("s1", Now - TimeSpan.FromHours(1))]);
            var reconciler = new ShadowReconciler(tables, _provisioner, workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

            await Assert.ThrowsAsync<AggregateException>(() => reconciler.SweepAsync(TestContext.Current.CancellationToken));
            await reconciler.SweepAsync(TestContext.Current.CancellationToken); // broken starts this time
            await reconciler.SweepAsync(TestContext.Current.CancellationToken); // sweeps only

            // s1 may be being retired by its workflow at any tick: only the start pass starts it again.
            await _provisioner.Received(1).ProvisionAsync(Arg.Is<ProvisionSpec>(p => p.ShadowId == "s1"), Arg.Any<CancellationToken>());
            await _provisioner.Received(2).ProvisionAsync(Arg.Is<ProvisionSpec>(p => p.ShadowId == "broken"), Arg.Any<CancellationToken>());
        }
        finally
        {
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Sweep_RetiredShadowStillAMirrorTarget_ItsRetirementIsFinished_ThePolicyPutBack()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.Retired, Owner = "shadows-orders-gone" }],
            Mirror = new MirrorPolicy { Enabled = true, Percent = 20, Targets = ["s1"] },
        });
        await _store.SaveJsonAsync(Shadowing.Workflows.Activities.EnableMirroringActivity.BeforeKey("orders"), new Shadowing.Workflows.Activities.MirrorBefore(new MirrorPolicy { Enabled = true, Percent = 5 }));
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([]);
        var reconciler = new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

        await reconciler.SweepAsync(TestContext.Current.CancellationToken);

        var mirror = (await tables.GetAsync("orders"))!.Value.Mirror!;
        Assert.Equal((true, 5.0, 0), (mirror.Enabled, mirror.Percent, mirror.Targets.Count));
        await _provisioner.Received(1).RetireAsync("orders", "s1", Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RetirementThatFailedMidway_IsFinishedByTheSweepOnceItsWorkflowEnded_StoppedAndAlerted()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed, Owner = "shadows-orders-gone" }],
        });
        var stops = 0;
        _provisioner.RetireAsync("orders", "s1", Arg.Any<CancellationToken>()).Returns(_ => ++stops == 1 ? throw new ProvisioningException("the host did not answer") : Task.CompletedTask);
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([]);
        var time = new FakeTimeProvider(Now);
        var data = Data.ShadowDataServiceTests.Create(_store, tables, time);
        var retire = new Shadowing.Workflows.Activities.RetireShadowActivity(_provisioner, tables, _store, _bus, data, time);

        await Assert.ThrowsAsync<ProvisioningException>(() => retire.RetireAsync(new RetireStep("orders", "s1", "failed validation twice")));
        var afterFailure = (await tables.GetAsync("orders"))!.Value.Shadows.Single().State;
        await new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, data, time, NullLogger<ShadowReconciler>.Instance).SweepAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ShadowState.Failed, afterFailure); // out of routing, not Retired: before, Retired, and never looked at again
        Assert.Equal(ShadowState.Retired, (await tables.GetAsync("orders"))!.Value.Shadows.Single().State);
        Assert.Equal(2, stops);
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Kind == AlertKind.ShadowFailed && a.Endpoint == "s1"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Sweep_RetiredEntriesOlderThanKeepRetired_LeaveTheTable_NotRecentOnes()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows =
            [
                new ShadowEndpoint { Id = "held", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed, StateChangedAt = Now.AddDays(-3) },
                new ShadowEndpoint { Id = "old", Address = "http://127.0.0.1:3", State = ShadowState.Retired, StateChangedAt = Now.AddDays(-2) },
                new ShadowEndpoint { Id = "recent", Address = "http://127.0.0.1:4", State = ShadowState.Retired, StateChangedAt = Now.AddHours(-12) },
            ],
            Mirror = new MirrorPolicy { Enabled = true, Percent = 10, Targets = ["held"] },
        });
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([]);
        var reconciler = new ShadowReconciler(
            tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance,
            Microsoft.Extensions.Options.Options.Create(new ShadowLifecycleOptions { KeepRetired = TimeSpan.FromDays(1) }));

        await reconciler.ReconcileAsync(restartDead: false, TestContext.Current.CancellationToken);

        Assert.Equal(["held", "recent"], (await tables.GetAsync("orders"))!.Value.Shadows.Select(s => s.Id));
    }

    [Fact]
    public async Task Sweep_RecordsOfShadowsGoneFromTheirTable_DeletedOnceOlderThanKeepRetired_TheOthersKept()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "held", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed }],
        });
        var records = new[] { ("held", Now.AddDays(-3)), ("gone", Now.AddDays(-2)), ("recent", Now.AddHours(-12)) };
        foreach (var (id, at) in records)
        {
            await _store.SaveJsonAsync(StateKeys.Verdict("orders", id), new ShadowVerdict { Service = "orders", Shadow = id, Verdict = Verdict.Pass, Reasons = ["test"], Metrics = [], From = at.AddMinutes(-10), To = at, JudgedAt = at });
            await _store.SaveJsonAsync(StateKeys.ShadowSyncRecord("orders", id), new ShadowSyncRecord("deleted", "the shadow retired", at));
            await _store.SaveJsonAsync(Shadowing.Workflows.Activities.RetireShadowActivity.AlertedKey("orders", id), new Shadowing.Workflows.Activities.RetireShadowActivity.AlertedMark(at));
        }

        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([]);
        var reconciler = new ShadowReconciler(
            tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance,
            Microsoft.Extensions.Options.Options.Create(new ShadowLifecycleOptions { KeepRetired = TimeSpan.FromDays(1) }));

        await reconciler.SweepAsync(TestContext.Current.CancellationToken);

        // Out of the table and retired more than a day ago: nothing can ask for them again. A shadow still in the table,
        // or gone less than KeepRetired ago (a sync rerun must still find it marked deleted), keeps its records.
        foreach (var prefix in new[] { StateKeys.Verdict("orders", string.Empty), StateKeys.ShadowSyncRecord("orders", string.Empty), Shadowing.Workflows.Activities.RetireShadowActivity.AlertedKey("orders", string.Empty) })
        {
            Assert.Equal([prefix + "held", prefix + "recent"], (await _store.ListKeysAsync(prefix)).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task Sweep_CopyOfAShadowTakenOutOfItsTableByHand_IsDeleted_NotOneSyncedInTheLastMinute_NorOnePromotedToProduction()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }, new ProductionEndpoint { Id = "promoted", Address = "http://127.0.0.1:3", MaxConcurrency = 8 }],
        });
        foreach (var (id, at) in new[] { ("removed", Now.AddMinutes(-10)), ("just-added", Now), ("promoted", Now.AddMinutes(-10)) })
        {
            await _store.SaveAsync(StateKeys.ShadowData("orders", id) + "o1", "{\"email\":\"ana@mail.example.org\"}"u8.ToArray(), etag: null);
            await _store.SaveJsonAsync(StateKeys.ShadowSyncRecord("orders", id), new ShadowSyncRecord("differential", "1 change(s) applied", at));
        }

        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([]);
        var time = new FakeTimeProvider(Now);
        await new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, time), time, NullLogger<ShadowReconciler>.Instance)
            .SweepAsync(TestContext.Current.CancellationToken);

        Assert.Empty(await _store.ListKeysAsync(StateKeys.ShadowData("orders", "removed")));
        Assert.Equal("deleted", (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "removed")))!.Value.Mode); // kept a KeepRetired more
        Assert.Single(await _store.ListKeysAsync(StateKeys.ShadowData("orders", "just-added")));
        Assert.Single(await _store.ListKeysAsync(StateKeys.ShadowData("orders", "promoted"))); // promoted to production under its id
    }

    [Fact]
    public async Task Sweep_ProcessAddedToItsTableAfterTheTablesWereRead_IsLeftAlone()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }] });
        _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns(async _ =>
        {
            // Its activity adds the entry and lets go of the claim between the sweep's two reads.
            await tables.AddShadowAsync("orders", new ShadowEndpoint { Id = "slow", Address = "http://127.0.0.1:9", State = ShadowState.Provisioning, Owner = "wf-1" }, Now.AddDays(-1));
            return (IReadOnlyList<ProvisionedShadow>)[Running("slow", Now - TimeSpan.FromMinutes(10))];
        });
        var reconciler = new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

        await reconciler.ReconcileAsync(restartDead: false, TestContext.Current.CancellationToken);

        await _provisioner.DidNotReceive().RetireAsync("orders", "slow", Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Sweep_ProcessStillBeingStarted_KeptWhileItsClaimingWorkflowRuns_StoppedOnceItHasEnded()
    {
        // The real client on the embedded backend: a stand-in lifecycle that runs until released.
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Embedded:Workflows:StatePath"] = ":memory:" });
        builder.Services.AddEmbeddedDaprWorkflows(builder.Configuration, o => o.RegisterWorkflow<string, string>("Claimant", async (context, _) => await context.WaitForExternalEventAsync<string>("release")));
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var workflows = host.Services.GetRequiredService<DaprWorkflowClient>();
            var claimant = await workflows.ScheduleNewWorkflowAsync("Claimant", "wf-starting", "x");
            await workflows.WaitForWorkflowStartAsync(claimant, cancellation: TestContext.Current.CancellationToken);
            var tables = new RoutingTableStore(_store, _bus);
            await tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }] });

            // Both listed ten minutes ago, neither in the table yet: a Container App takes that long to run.
            await _store.SaveJsonAsync(Shadowing.Workflows.Activities.ProvisionShadowActivity.ClaimKey("orders", "starting"), claimant);
            await _store.SaveJsonAsync(Shadowing.Workflows.Activities.ProvisionShadowActivity.ClaimKey("orders", "abandoned"), "wf-gone");
            await _store.SaveJsonAsync(Shadowing.Workflows.Activities.ProvisionShadowActivity.ClaimKey("orders", "never-listed"), "wf-gone"); // terminated before anything ran
            _provisioner.ListAsync(Arg.Any<CancellationToken>()).Returns([Running("starting", Now - TimeSpan.FromMinutes(10)), Running("abandoned", Now - TimeSpan.FromMinutes(10))]);
            var reconciler = new ShadowReconciler(tables, _provisioner, workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, new FakeTimeProvider(Now)), new FakeTimeProvider(Now), NullLogger<ShadowReconciler>.Instance);

            await reconciler.SweepAsync(TestContext.Current.CancellationToken);

            await _provisioner.DidNotReceive().RetireAsync("orders", "starting", Arg.Any<CancellationToken>());
            await _provisioner.Received(1).RetireAsync("orders", "abandoned", Arg.Any<CancellationToken>());
            Assert.Null(await _store.GetAsync(Shadowing.Workflows.Activities.ProvisionShadowActivity.ClaimKey("orders", "abandoned")));
            Assert.Null(await _store.GetAsync(Shadowing.Workflows.Activities.ProvisionShadowActivity.ClaimKey("orders", "never-listed")));
            Assert.NotNull(await _store.GetAsync(Shadowing.Workflows.Activities.ProvisionShadowActivity.ClaimKey("orders", "starting")));

            // Its workflow ended (failed, terminated) without adding it: an orphan now.
            await workflows.RaiseEventAsync(claimant, "release", "done", TestContext.Current.CancellationToken);
            await workflows.WaitForWorkflowCompletionAsync(claimant, cancellation: TestContext.Current.CancellationToken);
            await reconciler.SweepAsync(TestContext.Current.CancellationToken);

            await _provisioner.Received(1).RetireAsync("orders", "starting", Arg.Any<CancellationToken>());
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>An embedded workflow host running one instance that holds until released: a running owner for shadows.</summary>
    private static async Task<(IHost Host, DaprWorkflowClient Workflows, string Owner)> StartHoldingWorkflowAsync()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Embedded:Workflows:StatePath"] = ":memory:" });
        builder.Services.AddEmbeddedDaprWorkflows(builder.Configuration, o => o.RegisterWorkflow<string, string>("Holder", async (context, _) => await context.WaitForExternalEventAsync<string>("release")));
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        var workflows = host.Services.GetRequiredService<DaprWorkflowClient>();
        var owner = await workflows.ScheduleNewWorkflowAsync("Holder", "wf-holding", "x");
        await workflows.WaitForWorkflowStartAsync(owner, cancellation: TestContext.Current.CancellationToken);
        return (host, workflows, owner);
    }

    private static ProvisionedShadow Running(string id, DateTimeOffset startedAt) => new()
    {
        Service = "orders",
        ShadowId = id,
        Address = "http://127.0.0.1:9",
        Resources = new ShadowResources(),
        Handle = "1@1",
        StartedAt = startedAt,
    };
}
