using Shadowing.Core.Shadows;

namespace Shadowing.Core.Tests.Shadows;

public sealed class ShadowLifecycleTests
{
    public static TheoryData<ShadowState, ShadowState> HappyPath => new()
    {
        { ShadowState.Provisioning, ShadowState.Syncing },
        { ShadowState.Syncing, ShadowState.WarmingUp },
        { ShadowState.WarmingUp, ShadowState.Validating },
        { ShadowState.Validating, ShadowState.PreWarmed },
        { ShadowState.PreWarmed, ShadowState.Active },
        { ShadowState.Active, ShadowState.PreWarmed },
        { ShadowState.PreWarmed, ShadowState.Draining },
        { ShadowState.Draining, ShadowState.Retired },
    };

    [Theory]
    [MemberData(nameof(HappyPath))]
    public void CanTransition_LifecycleStep_IsAllowed(ShadowState from, ShadowState to)
    {
        Assert.True(ShadowLifecycle.CanTransition(from, to));
    }

    [Theory]
    [InlineData(ShadowState.Provisioning, ShadowState.PreWarmed)]
    [InlineData(ShadowState.WarmingUp, ShadowState.Active)]
    [InlineData(ShadowState.Retired, ShadowState.Provisioning)]
    [InlineData(ShadowState.Active, ShadowState.Retired)]
    [InlineData(ShadowState.Failed, ShadowState.Active)]
    public void CanTransition_SkippingSteps_IsRefused(ShadowState from, ShadowState to)
    {
        Assert.False(ShadowLifecycle.CanTransition(from, to));
    }

    [Fact]
    public void EveryNonTerminalState_CanFailOrRetire()
    {
        foreach (var state in Enum.GetValues<ShadowState>().Where(s => !ShadowLifecycle.IsTerminal(s)))
        {
            Assert.True(
                ShadowLifecycle.CanTransition(state, ShadowState.Failed) || ShadowLifecycle.CanTransition(state, ShadowState.Retired),
                $"{state} has no way out to Failed or Retired");
        }
    }

    [Fact]
    public void EveryState_IsReachableFromInitial()
    {
        var seen = new HashSet<ShadowState> { ShadowLifecycle.Initial };
        var queue = new Queue<ShadowState>(seen);
        while (queue.TryDequeue(out var state))
        {
            foreach (var next in ShadowLifecycle.NextStates(state).Where(seen.Add))
            {
                queue.Enqueue(next);
            }
        }

        Assert.Equal(Enum.GetValues<ShadowState>().Order(), seen.Order());
    }

    [Fact]
    public void EnsureCanTransition_Illegal_NamesShadowStatesAndOptions()
    {
        var error = Assert.Throws<InvalidShadowTransitionException>(() => ShadowLifecycle.EnsureCanTransition("s1", ShadowState.WarmingUp, ShadowState.Active));

        Assert.Contains("'s1'", error.Message, StringComparison.Ordinal);
        Assert.Contains("from WarmingUp to Active", error.Message, StringComparison.Ordinal);
        Assert.Contains("Validating", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ShadowState.PreWarmed, true)]
    [InlineData(ShadowState.Active, true)]
    [InlineData(ShadowState.WarmingUp, false)]
    [InlineData(ShadowState.Validating, false)]
    [InlineData(ShadowState.Draining, false)]
    [InlineData(ShadowState.Failed, false)]
    public void IsRoutable_OnlyPreWarmedAndActive(ShadowState state, bool routable)
    {
        Assert.Equal(routable, ShadowLifecycle.IsRoutable(state));
    }
}
