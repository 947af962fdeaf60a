using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Tests.Routing;
using Shadowing.Core.Validation;

namespace Shadowing.Core.Tests.Validation;

public sealed class ShadowPromotionTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Refused_NeverValidated_NotAPass_TooOld()
    {
        var table = Table(ShadowState.PreWarmed);

        Assert.Contains("never been validated", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", PromotionTarget.Active, null, Now)).Message, StringComparison.Ordinal);
        Assert.Contains("latest verdict is Fail", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Fail, Now), Now)).Message, StringComparison.Ordinal);
        Assert.Contains("latest verdict is Inconclusive", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Inconclusive, Now), Now)).Message, StringComparison.Ordinal);
        Assert.Contains("older than validation.verdictMaxAge", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Pass, Now.AddHours(-2)), Now)).Message, StringComparison.Ordinal);
        Assert.Contains("no shadow 'nope'", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "nope", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Pass, Now), Now)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Active_FromPreWarmedWithARecentPass_OtherStatesRefused()
    {
        var promoted = ShadowPromotion.Promote(Table(ShadowState.PreWarmed), "s1", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Pass, Now.AddMinutes(-5)), Now);

        Assert.Equal(ShadowState.Active, promoted.Shadows.Single().State);
        Assert.Contains("only a PreWarmed shadow can become Active", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(Table(ShadowState.Validating), "s1", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Pass, Now), Now)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Production_TheShadowBecomesAProductionEndpoint_AndLeavesTheMirrorTargets()
    {
        var table = Table(ShadowState.Validating) with { Mirror = new MirrorPolicy { Percent = 10, Targets = ["s1"] } };

        var promoted = ShadowPromotion.Promote(table, "s1", PromotionTarget.Production, Verdict(Core.Validation.Verdict.Pass, Now), Now);

        Assert.Empty(promoted.Shadows);
        var endpoint = Assert.Single(promoted.Production, p => p.Id == "s1");
        Assert.Equal(("http://10.0.0.9:8080", 32), (endpoint.Address, endpoint.MaxConcurrency));
        Assert.False(promoted.Mirror!.Enabled);
        Assert.Empty(RoutingTableValidator.Validate(promoted));
    }

    [Theory]
    [InlineData(ShadowState.Draining)]
    [InlineData(ShadowState.Retired)]
    [InlineData(ShadowState.Failed)]
    public void Production_AShadowTakenOutOfService_IsRefusedWhateverItsRecentPass(ShadowState state)
    {
        var refusal = Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(Table(state), "s1", PromotionTarget.Production, Verdict(Core.Validation.Verdict.Pass, Now), Now));

        Assert.Contains($"is {state}; a shadow that is draining, retired or failed cannot be promoted", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Production_AShadowAWorkflowRuns_IsRefusedNamingTheWorkflow()
    {
        var table = Table(ShadowState.PreWarmed);
        table = table with { Shadows = [table.Shadows[0] with { Owner = "shadows-orders-20261201T1200Z" }] };

        var refusal = Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", PromotionTarget.Production, Verdict(Core.Validation.Verdict.Pass, Now), Now));

        Assert.Contains("run by workflow 'shadows-orders-20261201T1200Z'", refusal.Message, StringComparison.Ordinal);
        Assert.Equal(ShadowState.Active, ShadowPromotion.Promote(table, "s1", PromotionTarget.Active, Verdict(Core.Validation.Verdict.Pass, Now), Now).Shadows[0].State);

        // A target that is neither (a number a caller cast) does not slip past the check into the production branch.
        Assert.Throws<ArgumentOutOfRangeException>(() => ShadowPromotion.Promote(table, "s1", (PromotionTarget)2, Verdict(Core.Validation.Verdict.Pass, Now), Now));
    }

    [Theory]
    [InlineData(PromotionTarget.Active)]
    [InlineData(PromotionTarget.Production)]
    public void AShadowOnItsOwnCopyOfTheData_IsRefusedWhateverItsRecentPass(PromotionTarget target)
    {
        var table = Table(ShadowState.PreWarmed);
        table = table with { Shadows = [table.Shadows[0] with { DataIsolated = true }] };

        var refusal = Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", target, Verdict(Core.Validation.Verdict.Pass, Now), Now));

        Assert.Contains("runs on its own copy of production's data (dataIsolated)", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("(dataIsolated)", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(table, "s1", target, null, Now)).Message, StringComparison.Ordinal); // not sent to validate it first
        Assert.False(ShadowPromotion.IsPromoted(table with { Shadows = [table.Shadows[0] with { State = ShadowState.Active }] }, "s1", PromotionTarget.Active)); // Active from before: it takes no traffic

        // A masked copy is a copy of its own whatever dataIsolated says (the data sync marks it masked first).
        var masked = table with { Shadows = [table.Shadows[0] with { DataIsolated = false, DataMasked = true }] };
        Assert.Contains("(dataMasked)", Assert.Throws<PromotionRefusedException>(() => ShadowPromotion.Promote(masked, "s1", target, Verdict(Core.Validation.Verdict.Pass, Now), Now)).Message, StringComparison.Ordinal);
        Assert.False(ShadowPromotion.IsPromoted(masked with { Shadows = [masked.Shadows[0] with { State = ShadowState.Active }] }, "s1", PromotionTarget.Active));
    }

    private static RoutingTable Table(ShadowState state) => Tables.Orders() with
    {
        Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://10.0.0.9:8080", State = state, MaxConcurrency = 32 }],
    };

    private static ShadowVerdict Verdict(Verdict verdict, DateTimeOffset judgedAt) => new()
    {
        Service = "orders",
        Shadow = "s1",
        Verdict = verdict,
        Reasons = ["latency: …"],
        Metrics = [],
        From = judgedAt.AddMinutes(-15),
        To = judgedAt,
        JudgedAt = judgedAt,
    };
}
