using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Core.Tests.Routing;

public sealed class RoutingTableTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void WithShadowState_LegalMove_ChangesOnlyThatShadow()
    {
        var table = Tables.Orders() with
        {
            Shadows = [Tables.Shadow("s1", ShadowState.Validating), Tables.Shadow("s2", ShadowState.WarmingUp)],
        };

        var next = table.WithShadowState("s1", ShadowState.PreWarmed, Now);

        Assert.Equal(ShadowState.PreWarmed, next.Shadows[0].State);
        Assert.Equal(Now, next.Shadows[0].StateChangedAt);
        Assert.Equal(ShadowState.WarmingUp, next.Shadows[1].State);
        Assert.Equal(ShadowState.Validating, table.Shadows[0].State);
    }

    [Fact]
    public void WithShadowState_IllegalMove_Throws()
    {
        var table = Tables.Orders() with { Shadows = [Tables.Shadow("s1", ShadowState.WarmingUp)] };

        Assert.Throws<InvalidShadowTransitionException>(() => table.WithShadowState("s1", ShadowState.Active, Now));
    }

    [Fact]
    public void WithShadowState_UnknownShadow_Throws()
    {
        Assert.Throws<KeyNotFoundException>(() => Tables.Orders().WithShadowState("nope", ShadowState.Syncing, Now));
    }
}
