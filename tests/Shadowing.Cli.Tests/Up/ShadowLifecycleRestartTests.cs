using Dapr.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Shadows;
using Shadowing.TestUtilities.Time;
using Shadowing.Workflows.Intake;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Cli.Tests.Up;

/// <summary>The embedded host stops in the middle of a shadow's warm-up and starts again on the same state folder.</summary>
public sealed class ShadowLifecycleRestartTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HostRestartsMidWarmup_TheSameInstanceFinishesWithOneShadowProcess()
    {
        var folder = Directory.CreateTempSubdirectory("sep-restart-").FullName;
        var (p1, a1) = await SepHost.StartProductionAsync("orders-1", Ct);
        var (p2, a2) = await SepHost.StartProductionAsync("orders-2", Ct);
        await using var production1 = p1;
        await using var production2 = p2;
        var table = SepHost.Table(a1, a2);

        // Warm-up lasts its full 20 s (the sample target is out of reach), so the host stops in the middle of it; not
        // amplified toward that target, which would judge this machine's speed (WorkflowHostKilledUnderLoadTests).
        var settings = ShadowLifecycleEndToEndTests.Settings(warmup: "00:00:20", samples: 1_000_000);
        settings["Shadowing:Sep:AmplifyThinTraffic"] = "false";
        settings["Shadowing:Sep:InitialSize"] = "2"; // started again at the size its workflow records, not the default
        var now = TimeProvider.System.GetUtcNow().AddDays(4); // a window of its own: shadow ids (and so command lines) differ from other tests
        var request = SepHost.Request(now, "restart test");
        var instance = ShadowLifecycleNames.InstanceId(request);
        var shadowId = ShadowLifecycleNames.ShadowId(request, 1);
        string firstAddress;
        await using (var first = await SepHost.StartAsync(folder, table, settings, metrics: null, Ct))
        {
            await using var traffic = new ShadowLifecycleEndToEndTests.Traffic(first.Http);
            await first.App.Services.GetRequiredService<ShadowRequestIntake>().HandleAsync(request, Ct);
            await Eventually.WaitUntilAsync(async () => (await first.ShadowAsync(shadowId))?.State == ShadowState.WarmingUp, $"shadow {shadowId} warming up ({ShadowLifecycleEndToEndTests.Describe(first, shadowId)})", Patience, Ct);
            Assert.Equal(1, CliProcess.CountProcessesMentioning(shadowId));
            firstAddress = (await first.ShadowAsync(shadowId))!.Address;
        }

        // The host stopped for good: its shadow stopped with it.
        Assert.Equal(0, CliProcess.CountProcessesMentioning(shadowId));

        await using var second = await SepHost.StartAsync(folder, table, settings, metrics: null, Ct);
        await using (new ShadowLifecycleEndToEndTests.Traffic(second.Http))
        {
            await Eventually.WaitUntilAsync(async () => (await second.ShadowAsync(shadowId))?.State == ShadowState.PreWarmed, $"shadow {shadowId} PreWarmed after the restart ({ShadowLifecycleEndToEndTests.Describe(second, shadowId)})", Patience, Ct);
            Assert.Equal(1, CliProcess.CountProcessesMentioning(shadowId)); // adopted or started again, never twice
            Assert.Equal(firstAddress, (await second.ShadowAsync(shadowId))!.Address); // started again where the table pointed
            var process = await second.App.Services.GetRequiredService<IShadowProvisioner>().FindAsync("orders", shadowId, Ct);
            Assert.Equal(2, process?.Resources.Size);
        }

        await second.Workflows.RaiseEventAsync(instance, ShadowLifecycleNames.Release, "test", Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Patience);
        var state = await second.Workflows.WaitForWorkflowCompletionAsync(instance, getInputsAndOutputs: true, timeout.Token);
        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        Assert.True(state.ReadOutputAs<ShadowOutcome>()!.Served);
        Assert.Equal([instance], (await second.Workflows.ListInstanceIdsAsync(cancellation: Ct)).InstanceIds);
        Assert.Equal(0, CliProcess.CountProcessesMentioning(shadowId));
        Assert.Equal(1, Assert.Single(state.ReadOutputAs<ShadowOutcome>()!.Shadows).Attempt);
    }
}
