using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.Functions.Routing;

namespace Shadowing.Functions.Tests.Routing;

public sealed class RoutingFunctionsTests
{
    private static readonly RoutingTable Orders = new()
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "p1", Address = "dapr://orders-1", MaxConcurrency = 8 }],
    };

    private readonly IStateStore _state = Substitute.For<IStateStore>();
    private readonly RoutingTableStore _tables;

    public RoutingFunctionsTests() => _tables = new RoutingTableStore(_state, Substitute.For<IEventBus>());

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetRoutingTable_Stored_ReturnsTableAsShadowingJsonWithETag()
    {
        _state.GetAsync("routing/orders", Arg.Any<CancellationToken>()).Returns(new StateItem("routing/orders", ShadowingJson.Serialize(Orders), "42"));
        var request = new DefaultHttpContext().Request;

        var result = await new GetRoutingTable(_tables).Run(request, "orders", Ct);

        var json = Assert.IsType<JsonResult>(result);
        Assert.Equal("orders", Assert.IsType<RoutingTable>(json.Value).Service);
        Assert.Same(ShadowingJson.Options, json.SerializerSettings);
        Assert.Equal("\"42\"", request.HttpContext.Response.Headers.ETag.ToString());
    }

    [Fact]
    public async Task GetRoutingTable_Unknown_Returns404Problem()
    {
        var result = await new GetRoutingTable(_tables).Run(new DefaultHttpContext().Request, "payments", Ct);

        var problem = Assert.IsType<ProblemDetails>(Assert.IsType<NotFoundObjectResult>(result).Value);
        Assert.Contains("'payments'", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetRoutingTable_InvalidName_Returns400WithoutTouchingTheStore()
    {
        var result = await new GetRoutingTable(_tables).Run(new DefaultHttpContext().Request, "a b", Ct);

        Assert.Equal(400, Assert.IsType<ObjectResult>(result).StatusCode);
        await _state.DidNotReceive().GetAsync(Arg.Any<string>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task ListRoutingTables_ReturnsEveryStoredTable()
    {
        _state.ListKeysAsync("routing/", Arg.Any<CancellationToken>()).Returns(["routing/orders"]);
        _state.GetAsync("routing/orders", Arg.Any<CancellationToken>()).Returns(new StateItem("routing/orders", ShadowingJson.Serialize(Orders), "1"));

        var result = await new ListRoutingTables(_tables).Run(new DefaultHttpContext().Request, Ct);

        var tables = Assert.IsType<RoutingTable[]>(Assert.IsType<JsonResult>(result).Value);
        Assert.Equal("orders", Assert.Single(tables).Service);
    }
}
