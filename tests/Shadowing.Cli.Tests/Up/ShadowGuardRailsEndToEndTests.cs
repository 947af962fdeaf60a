using Dapr.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.TestUtilities.Time;
using Shadowing.Workflows.Intake;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Cli.Tests.Up;

/// <summary>Guard rails on the embedded host, operated with the CLI as an on-call engineer would.</summary>
public sealed class ShadowGuardRailsEndToEndTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KillSwitchOn_RunningShadowIsRetiredAndItsProcessStops_NewRequestsAreRefused_PlansShowWhy()
    {
        var folder = Directory.CreateTempSubdirectory("sep-kill-").FullName;
        var (p1, a1) = await SepHost.StartProductionAsync("orders-1", Ct);
        await using var production = p1;
        var settings = ShadowLifecycleEndToEndTests.Settings(warmup: "00:00:20", samples: 60);
        settings["Shadowing:Sep:RevalidationInterval"] = "00:00:01";
        await using var host = await SepHost.StartAsync(folder, SepHost.Table(a1), settings, metrics: null, Ct);
        await using var traffic = new ShadowLifecycleEndToEndTests.Traffic(host.Http);
        var intake = host.App.Services.GetRequiredService<ShadowRequestIntake>();
        var request = Request(TimeProvider.System.GetUtcNow().AddDays(1)); // a window of its own: shadow ids differ from other tests
        var shadowId = ShadowLifecycleNames.ShadowId(request, 1);
        await intake.HandleAsync(request, Ct);
        await Eventually.WaitUntilAsync(async () => (await host.ShadowAsync(shadowId))?.State == ShadowState.PreWarmed, $"shadow {shadowId} PreWarmed ({ShadowLifecycleEndToEndTests.Describe(host, shadowId)})", Patience, Ct);

        var (engaged, said) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "kill-switch", "on", "--by", "oncall", "--state", "state.db");
        Assert.True(engaged == 0, said);
        var (again, saidAgain) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "kill-switch", "on", "--by", "root", "--state", "state.db");
        Assert.True(again == 0, saidAgain);
        Assert.Matches(@"already engaged by oncall at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", saidAgain); // who engaged it is kept, and when

        var state = await CompletionAsync(host, ShadowLifecycleNames.InstanceId(request));
        Assert.Equal("released: kill switch engaged", state.ReadOutputAs<ShadowOutcome>()!.Reason);
        Assert.Equal(ShadowState.Retired, (await host.ShadowAsync(shadowId))!.State);
        Assert.Equal(0, CliProcess.CountProcessesMentioning(shadowId));

        var later = Request(TimeProvider.System.GetUtcNow().AddDays(1).AddHours(3));
        var refused = await intake.HandleAsync(later, Ct);
        Assert.Equal((ShadowPlanDecision.Refused, "Refused: the kill switch is engaged"), (refused.Decision, refused.Reason));
        var (listed, plans) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "plans", "--state", "state.db");
        Assert.Equal(0, listed);
        Assert.Contains("Kill switch engaged", plans, StringComparison.Ordinal);
        Assert.Contains("Refused: the kill switch is engaged", plans, StringComparison.Ordinal);
        Assert.Contains("Admitted", plans, StringComparison.Ordinal);

        var (disengaged, _) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "kill-switch", "off", "--state", "state.db");
        Assert.Equal(0, disengaged);
        Assert.Null(await host.Store.GetAsync(StateKeys.KillSwitch, Ct));
    }

    [Fact]
    public async Task DryRunAndCap_NothingIsProvisioned_ThePlansSayWhy()
    {
        var folder = Directory.CreateTempSubdirectory("sep-dry-").FullName;
        var (p1, a1) = await SepHost.StartProductionAsync("orders-1", Ct);
        await using var production = p1;
        var settings = ShadowLifecycleEndToEndTests.Settings(warmup: "00:00:20", samples: 60);
        settings["Shadowing:Sep:GuardRails:DryRun"] = "true";
        settings["Shadowing:Sep:GuardRails:MaxShadowsPerService"] = "2";
        await using (var host = await SepHost.StartAsync(folder, SepHost.Table(a1), settings, metrics: null, Ct))
        {
            var intake = host.App.Services.GetRequiredService<ShadowRequestIntake>();
            var now = TimeProvider.System.GetUtcNow().AddDays(3);
            var dry = await intake.HandleAsync(Request(now), Ct);
            var capped = await intake.HandleAsync(Request(now.AddHours(3)) with { Count = 3 }, Ct);

            Assert.Equal(ShadowPlanDecision.DryRun, dry.Decision);
            Assert.Equal((ShadowPlanDecision.DryRun, 2), (capped.Decision, capped.Count)); // as many as the cap leaves room for
            Assert.Contains("capped at 2 of 3 shadow(s)", capped.Reason, StringComparison.Ordinal);
            Assert.Contains("over the cap of 2 per service", capped.Reason, StringComparison.Ordinal);
            Assert.Empty((await host.Workflows.ListInstanceIdsAsync(cancellation: Ct)).InstanceIds);
            Assert.Empty((await host.Tables.GetAsync("orders", Ct))!.Value.Shadows);
            Assert.Equal(0, CliProcess.CountProcessesMentioning(ShadowLifecycleNames.ShadowId(Request(now), 1)));
        }

        var (listed, plans) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "plans", "--state", "state.db", "--json");
        Assert.Equal(0, listed);
        Assert.Contains("\"decision\":\"DryRun\"", plans, StringComparison.Ordinal);
        Assert.Contains("over the cap of 2 per service", plans, StringComparison.Ordinal);

        // A service named in another case is the same service, as the router matches it; another one says so.
        var (_, upper) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "plans", "--state", "state.db", "--service", "ORDERS", "--json");
        var (_, other) = await CliProcess.RunAsync(folder, TimeSpan.FromMinutes(1), Ct, "plans", "--state", "state.db", "--service", "billing");
        Assert.Contains("\"decision\":\"DryRun\"", upper, StringComparison.Ordinal);
        Assert.Contains("No shadow requests for service 'billing' yet.", other, StringComparison.Ordinal);
    }

    private static ShadowRequest Request(DateTimeOffset start) => SepHost.Request(start, "guard rails test");

    private static async Task<WorkflowState> CompletionAsync(SepHost host, string instance)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Patience);
        return await host.Workflows.WaitForWorkflowCompletionAsync(instance, getInputsAndOutputs: true, timeout.Token);
    }
}
