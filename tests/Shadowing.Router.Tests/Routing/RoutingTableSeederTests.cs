using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Router.Routing;
using Shadowing.TestUtilities.State;

namespace Shadowing.Router.Tests.Routing;

public sealed class RoutingTableSeederTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Seed_KeepsStoredTables_CreatesMissingOnes_ReplacesOnlyWhenAsked()
    {
        var tables = new RoutingTableStore(new InMemoryStateStore(), Substitute.For<IEventBus>());
        var stored = Orders() with { Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed }] };
        await tables.PutAsync(stored, Ct);
        var file = new[] { Orders(), Orders() with { Service = "payments" } };

        await new RoutingTableSeeder(file, "routes.yaml", replace: false, tables, NullLogger<RoutingTableSeeder>.Instance).StartAsync(Ct);

        Assert.Equal("s1", Assert.Single((await tables.GetAsync("orders", Ct))!.Value.Shadows).Id);
        Assert.NotNull(await tables.GetAsync("payments", Ct));

        await new RoutingTableSeeder(file, "routes.yaml", replace: true, tables, NullLogger<RoutingTableSeeder>.Instance).StartAsync(Ct);

        Assert.Empty((await tables.GetAsync("orders", Ct))!.Value.Shadows);
    }

    private static RoutingTable Orders() => new()
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }],
    };
}
