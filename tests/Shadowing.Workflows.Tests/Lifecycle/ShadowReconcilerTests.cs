using Dapr.Workflow;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
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
