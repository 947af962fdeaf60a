using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Core.Tests.Routing;

public sealed class RoutingTableValidatorTests
{
    [Fact]
    public void Validate_GoodTable_HasNoErrors()
    {
        Assert.Empty(RoutingTableValidator.Validate(Tables.Orders() with { Shadows = [Tables.Shadow("s1", ShadowState.PreWarmed)] }));
    }

    [Fact]
    public void Validate_BadFields_NamesEachField()
    {
        var table = new RoutingTable
        {
            Service = "orders/x",
            Production =
            [
                new ProductionEndpoint { Id = "p1", Address = "ftp://nope", MaxConcurrency = 0 },
                new ProductionEndpoint { Id = "p1", Address = "http://ok", MaxConcurrency = 1, MaxLatencyMs = -5 },
            ],
            Shadows = [new ShadowEndpoint { Id = "", Address = "dapr://s", MaxConcurrency = 0 }],
            Default = new DefaultEndpoint { Id = "d", Address = "" },
            IdempotentRequests = [new IdempotentRequestRule { Method = "PO ST", PathPrefix = "search" }],
        };

        var fields = RoutingTableValidator.Validate(table).Select(e => e.Field).ToArray();

        Assert.Equal(
            ["service", "production[0].address", "production[0].maxConcurrency", "production[1].id", "production[1].maxLatencyMs", "shadows[0].id", "shadows[0].maxConcurrency", "default.address", "idempotentRequests[0].method", "idempotentRequests[0].pathPrefix"],
            fields);
    }

    [Fact]
    public void Validate_NoEndpoints_IsAnError()
    {
        var error = Assert.Single(RoutingTableValidator.Validate(new RoutingTable { Service = "empty" }));

        Assert.Equal("production", error.Field);
    }

    [Fact]
    public void EnsureValid_Invalid_MessageNamesServiceAndFields()
    {
        var table = Tables.Orders() with { Production = [new ProductionEndpoint { Id = "p1", Address = "nope", MaxConcurrency = 1 }] };

        var error = Assert.Throws<RoutingTableValidationException>(() => RoutingTableValidator.EnsureValid(table));

        Assert.Equal("orders", error.Service);
        Assert.Contains("'orders'", error.Message, StringComparison.Ordinal);
        Assert.Contains("production[0].address: 'nope' is not an http(s):// URL or dapr://app-id", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("orders", true)]
    [InlineData("Orders.v2_beta-1", true)]
    [InlineData("", false)]
    [InlineData("-orders", false)]
    [InlineData("or ders", false)]
    [InlineData("orders/x", false)]
    public void ServiceNames_IsValid(string name, bool valid)
    {
        Assert.Equal(valid, ServiceNames.IsValid(name));
    }
}
