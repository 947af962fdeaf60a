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

    [Fact]
    public void NullLists_WrittenByAnotherTool_ReadAsEmpty()
    {
        // A Go program serialising nil slices writes null: the table must read as one without shadows, not crash
        // every reader that walks its lists (the router's compile, the lifecycle's activities).
        const string Json = """{"service":"orders","production":[{"id":"p1","address":"http://10.0.0.1:8080","maxConcurrency":10}],"shadows":null,"idempotentRequests":null,"mirror":{"percent":10,"targets":null,"methods":null,"ignoreFields":null}}""";

        var table = System.Text.Json.JsonSerializer.Deserialize<RoutingTable>(Json, Shadowing.Core.Serialization.ShadowingJson.Options)!;

        Assert.Single(table.Production);
        Assert.Empty(table.Shadows);
        Assert.Empty(table.IdempotentRequests);
        Assert.Empty(table.Mirror!.Targets);
        Assert.Empty(table.Mirror.IgnoreFields);
        Assert.Equal(["GET", "HEAD", "OPTIONS"], table.Mirror.Methods);
        Assert.Empty(RoutingTableValidator.Validate(table));
        Assert.Empty((table with { Production = null! }).Production);
    }
}
