using Dapr.Workflow;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.State;
using Shadowing.Workflows.Intake;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Lifecycle;

public sealed class ShadowMaintenanceTimerTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 30, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly IShadowProvisioner _provisioner = Substitute.For<IShadowProvisioner>();
    private readonly IDaprWorkflowClient _workflows = Substitute.For<IDaprWorkflowClient>();
    private readonly FakeTimeProvider _time = new(Now);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Tick_TheSweepFails_RevalidationAndKeptAlertsStillRun_AndTheFailureIsReported()
    {
        var tables = new RoutingTableStore(_store, _bus);
        await tables.PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed, Owner = "shadows-orders-1", StateChangedAt = Now.AddHours(-1) }],
        }, Ct);
        await StoredOutcomes.SaveAsync(_store, [.. Enumerable.Range(0, 60).Select(i => new MirrorOutcome
        {
            RequestId = $"r{i}",
            Service = "orders",
            Method = "GET",
            Path = "/items",
            ReceivedAt = Now - TimeSpan.FromSeconds(i),
            Production = new EndpointAnswer("p1", 200, 20, 10, "d"),
            Copy = new EndpointAnswer("s1", 500, 20, 10, "e"),
        })]);
        var kept = new Alert { Kind = AlertKind.ShadowFailed, Service = "orders", Endpoint = "s0", At = Now.AddMinutes(-5) };
        await _store.SaveJsonAsync(AlertOutbox.PendingPrefix + AlertOutbox.IdOf(kept), kept, cancellationToken: Ct); // raised while the bus was down
        // The sweep cannot ask whether the shadow's workflow still runs (the workflow engine is unreachable).
        _workflows.GetWorkflowStateAsync(Arg.Any<string>(), Arg.Any<bool>(), Arg.Any<CancellationToken>()).Returns<WorkflowState>(_ => throw new HttpRequestException("the workflow engine is unavailable"));

        var error = await Assert.ThrowsAsync<AggregateException>(() => Timer(tables).TickAsync(Ct));

        Assert.IsType<HttpRequestException>(Assert.Single(error.Flatten().InnerExceptions)); // the sweep's own aggregate, inside the tick's
        await _bus.Received(1).PublishAsync(Topics.ShadowVerdicts, Arg.Is<ShadowVerdictNotice>(n => n.ShadowId == "s1"), Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Kind == AlertKind.ShadowFailed && a.Endpoint == "s0" && a.At == kept.At), Arg.Any<CancellationToken>());
        Assert.Empty(await _store.ListKeysAsync(AlertOutbox.PendingPrefix, Ct));
    }

    private ShadowMaintenanceTimer Timer(RoutingTableStore tables)
    {
        var rails = Substitute.For<IOptionsMonitor<ShadowGuardRails>>();
        rails.CurrentValue.Returns(new ShadowGuardRails());
        var validator = new ShadowValidator(_store, _bus, _time);
        return new ShadowMaintenanceTimer(
            new ShadowRequestIntake(_store, _workflows, rails, _time, NullLogger<ShadowRequestIntake>.Instance),
            new ShadowReconciler(tables, _provisioner, _workflows, _store, _bus, Data.ShadowDataServiceTests.Create(_store, tables, _time), _time, NullLogger<ShadowReconciler>.Instance),
            new ShadowRevalidation(tables, validator, _bus, _time),
            Data.ShadowDataServiceTests.Create(_store, tables, _time),
            new AlertOutbox(_store, _bus),
            Options.Create(new ShadowLifecycleOptions()),
            _time,
            NullLogger<ShadowMaintenanceTimer>.Instance,
            revalidate: true);
    }
}
