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

        await new RoutingTableSeeder(file, "routes.yaml", RoutingTableSeedMode.KeepStored, tables, NullLogger<RoutingTableSeeder>.Instance).StartAsync(Ct);

        Assert.Equal("s1", Assert.Single((await tables.GetAsync("orders", Ct))!.Value.Shadows).Id);
        Assert.NotNull(await tables.GetAsync("payments", Ct));

        await new RoutingTableSeeder(file, "routes.yaml", RoutingTableSeedMode.Replace, tables, NullLogger<RoutingTableSeeder>.Instance).StartAsync(Ct);

        Assert.Empty((await tables.GetAsync("orders", Ct))!.Value.Shadows);
    }

    [Fact]
    public async Task Seed_ProductionFromSource_KeepsTheStoredShadowsAndPolicy_TakesTheSourcesProductionAndDefault()
    {
        // shadowing up runs its samples where its configuration says: a stored table from a run with other ports pointed
        // the router at ports nothing listened on.
        var bus = Substitute.For<IEventBus>();
        var tables = new RoutingTableStore(new InMemoryStateStore(), bus);
        var promoted = new ProductionEndpoint { Id = "s0", Address = "http://127.0.0.1:7", MaxConcurrency = 4 };
        var stored = Orders() with
        {
            Production = [.. Orders().Production, promoted],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed }],
            Mirror = new Core.Mirroring.MirrorPolicy { Enabled = true, Percent = 30 },
        };
        await tables.PutAsync(stored, Ct);
        var moved = new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:5111", MaxConcurrency = 64, MaxLatencyMs = 500 };
        var added = new ProductionEndpoint { Id = "p2", Address = "http://127.0.0.1:5112", MaxConcurrency = 64 };
        var config = Orders() with { Production = [moved, added], Default = new DefaultEndpoint { Id = "d", Address = "http://127.0.0.1:5119" } };
        var seeder = new RoutingTableSeeder([config], "up.json", RoutingTableSeedMode.ProductionFromSource, tables, NullLogger<RoutingTableSeeder>.Instance);

        await seeder.StartAsync(Ct);
        bus.ClearReceivedCalls();
        await seeder.StartAsync(Ct); // the next start with the same configuration

        var table = (await tables.GetAsync("orders", Ct))!.Value;
        Assert.Equal([moved, added], table.Production); // a promoted shadow's process ended with up: not kept either
        Assert.Equal("http://127.0.0.1:5119", table.Default!.Address);
        Assert.Equal(("s1", 30.0), (Assert.Single(table.Shadows).Id, table.Mirror!.Percent));
        await bus.DidNotReceiveWithAnyArgs().PublishAsync<RoutingChanged>(default!, default!, default); // nothing to change: no write
    }

    private static RoutingTable Orders() => new()
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }],
    };
}
