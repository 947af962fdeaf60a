using Shadowing.Cli.Control;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Cli.Tests.Control;

public sealed class RoutesCommandTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Merge_AWorkflowsShadowTheFileNames_KeepsItsStoredEntry_AHandPlacedOneTakesTheFiles()
    {
        var stored = Table(
            new ShadowEndpoint { Id = "s20261202t1200-1", Address = "http://10.0.0.7:8080", State = ShadowState.Retired, StateChangedAt = At, Owner = "shadows-orders-20261202T1200Z" },
            new ShadowEndpoint { Id = "canary", Address = "http://10.0.0.5:8080", State = ShadowState.Validating });
        // Exported from the live table an hour earlier, when the workflow's shadow was PreWarmed, and edited.
        var file = Table(
            new ShadowEndpoint { Id = "s20261202t1200-1", Address = "http://10.0.0.7:8080", State = ShadowState.PreWarmed, StateChangedAt = At.AddHours(-1) },
            new ShadowEndpoint { Id = "canary", Address = "http://10.0.0.6:8080", State = ShadowState.PreWarmed });

        var merged = RoutesCommand.Merge(stored, file);

        Assert.Equal(["s20261202t1200-1"], RoutesCommand.SepsOwn(stored, file));
        var sep = Assert.Single(merged.Shadows, s => s.Id == "s20261202t1200-1");
        Assert.Equal((ShadowState.Retired, "shadows-orders-20261202T1200Z"), (sep.State, sep.Owner)); // not brought back to take failover traffic
        Assert.Equal(("http://10.0.0.6:8080", ShadowState.PreWarmed), (merged.Shadows.Single(s => s.Id == "canary").Address, merged.Shadows.Single(s => s.Id == "canary").State));
        Assert.Equal(["s20261202t1200-1", "canary"], merged.Shadows.Select(s => s.Id)); // the file's order: an exported table applies as unchanged
        Assert.Equal(stored.Shadows, RoutesCommand.Merge(stored, stored).Shadows);
    }

    [Fact]
    public void Merge_AnIdInAnotherCase_IsAnotherShadow_TheStoredOneIsKept()
    {
        var stored = Table(new ShadowEndpoint { Id = "s1", Address = "http://10.0.0.7:8080", State = ShadowState.PreWarmed, Owner = "wf-1" });
        var file = Table(new ShadowEndpoint { Id = "S1", Address = "http://10.0.0.8:8080", State = ShadowState.Validating });

        var merged = RoutesCommand.Merge(stored, file);

        Assert.Equal(["S1", "s1"], merged.Shadows.Select(s => s.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Merge_AWorkflowsShadowWarmingUp_TheFileNamesIt_StaysCoveredByTheMirrorPolicy()
    {
        var warming = new ShadowEndpoint { Id = "s1", Address = "http://10.0.0.7:8080", State = ShadowState.WarmingUp, Owner = "wf-1" };
        var stored = Table(warming) with { Mirror = new Core.Mirroring.MirrorPolicy { Percent = 10, Targets = ["s1"] } };
        var file = Table(warming with { Owner = null }) with { Mirror = new Core.Mirroring.MirrorPolicy { Percent = 2, Enabled = false } };

        var mirror = RoutesCommand.Merge(stored, file).Mirror!;

        Assert.Equal((true, 10.0, "s1"), (mirror.Enabled, mirror.Percent, string.Join(",", mirror.Targets))); // its warm-up would starve
    }

    private static RoutingTable Table(params ShadowEndpoint[] shadows) => new()
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
        Shadows = shadows,
    };
}
