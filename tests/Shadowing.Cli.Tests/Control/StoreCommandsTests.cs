using System.Text.Json;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Embedded.State;
using Shadowing.Forecasting.Calendar;
using Shadowing.Workflows.Activities;

namespace Shadowing.Cli.Tests.Control;

/// <summary><c>shadowing events</c> and <c>shadowing routes</c> on an embedded state file, run as processes.</summary>
public sealed class StoreCommandsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-store-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string StatePath => Path.Combine(_directory, "state.db");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Events_AddListRemove_KeepTheCalendarThePaeReads()
    {
        await SeedAsync();

        var (added, addOutput) = await RunAsync("events", "add", "orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z", "--name", "xmas-sale", "--multiplier", "2");
        Assert.True(added == 0, addOutput);
        var (_, json) = await RunAsync("events", "list", "orders", "--json");
        var listed = JsonDocument.Parse(json).RootElement;
        Assert.Equal(("xmas-sale", "campaign", 2.0), (listed[0].GetProperty("name").GetString(), listed[0].GetProperty("kind").GetString(), listed[0].GetProperty("expectedMultiplier").GetDouble()));
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            Assert.Equal("xmas-sale", Assert.Single((await store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events("orders"), Ct))!.Value).Name);
        }

        var (removed, removeOutput) = await RunAsync("events", "remove", "orders", "--name", "xmas-sale");
        Assert.True(removed == 0, removeOutput);
        Assert.Contains("No events for orders", (await RunAsync("events", "list", "orders")).Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--end: ", "events", "add", "orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T17:00:00Z", "--name", "x")]
    [InlineData("--start: 'tomorrow' is not a timestamp", "events", "add", "orders", "--start", "tomorrow", "--end", "2026-12-24T17:00:00Z", "--name", "x")]
    [InlineData("--multiplier: must be a positive number", "events", "add", "orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z", "--name", "x", "--multiplier", "0")]
    [InlineData("add needs --start, --end and --name (missing: --name)", "events", "add", "orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z")]
    [InlineData("<add|list|remove>: 'put' is none of", "events", "put", "orders")]
    [InlineData("--name: orders has no event named 'nope'", "events", "remove", "orders", "--name", "nope")]
    [InlineData("<SERVICE>: 'Orders' differs only in case from the stored service 'orders'", "events", "add", "Orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z", "--name", "x")]
    public async Task Events_BadInput_Exit2NamingTheOption(string expected, params string[] arguments)
    {
        await SeedAsync();

        var (exit, output) = await RunAsync(arguments);

        Assert.Equal(2, exit);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_AddForAServiceWithNoTable_IsStoredWithANoteNamingTheStoredOnes()
    {
        await SeedAsync();

        var (exit, output) = await RunAsync("events", "add", "ordrs", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z", "--name", "xmas-sale");

        Assert.True(exit == 0, output);
        // Spectre wraps long lines at the terminal's width.
        Assert.Contains("no routing table names ordrs (stored: orders)", string.Join(' ', output.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        var (_, known) = await RunAsync("events", "add", "orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z", "--name", "xmas-sale");
        Assert.DoesNotContain("no routing table", known, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_RemovingANameThatIsNotThere_WritesNothing()
    {
        await SeedAsync();

        var (exit, _) = await RunAsync("events", "remove", "orders", "--name", "nope");

        Assert.Equal(2, exit);
        using var store = new SqliteStateStore(StatePath, TimeProvider.System);
        Assert.Null(await store.GetAsync(StateKeys.Events("orders"), Ct)); // no empty calendar made, no ETag moved
    }

    [Fact]
    public async Task Routes_ValidateDiffApply_KeepTheShadowsSepOwns()
    {
        await SeedAsync();
        var file = Path.Combine(_directory, "routes.yaml");
        await File.WriteAllTextAsync(file, """
            services:
              orders:
                production:
                  - { id: orders-1, address: http://127.0.0.1:5101, maxConcurrency: 32 }
                  - { id: orders-3, address: http://127.0.0.1:5103, maxConcurrency: 32 }
              payments:
                production:
                  - { id: payments-1, address: http://127.0.0.1:5201, maxConcurrency: 8 }
            """, Ct);

        var (valid, validOutput) = await RunAsync("routes", "validate", file);
        var (_, diff) = await RunAsync("routes", "diff", file);
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            Assert.Equal(8, (await store.GetJsonAsync<RoutingTable>(StateKeys.Routing("orders"), Ct))!.Value.Production[0].MaxConcurrency); // diff writes nothing
        }

        var (applied, applyOutput) = await RunAsync("routes", "apply", file);
        var (_, again) = await RunAsync("routes", "diff", file);

        Assert.True(valid == 0, validOutput);
        Assert.Contains("2 service(s): orders, payments", validOutput, StringComparison.Ordinal);
        Assert.Contains("orders: changed", diff, StringComparison.Ordinal);
        Assert.Contains("payments: new", diff, StringComparison.Ordinal);
        Assert.Contains("+       \"id\": \"orders-3\",", diff, StringComparison.Ordinal);
        Assert.DoesNotContain("- ", diff.Split('\n').Where(l => l.Contains("s1", StringComparison.Ordinal)).FirstOrDefault() ?? string.Empty, StringComparison.Ordinal);
        Assert.True(applied == 0, applyOutput);
        Assert.Contains("orders: unchanged", again, StringComparison.Ordinal);
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            var orders = (await store.GetJsonAsync<RoutingTable>(StateKeys.Routing("orders"), Ct))!.Value;
            Assert.Equal(["orders-1", "orders-3"], orders.Production.Select(p => p.Id));
            Assert.Equal(("s1", ShadowState.PreWarmed, "wf-1"), (orders.Shadows.Single().Id, orders.Shadows.Single().State, orders.Shadows.Single().Owner)); // kept
            Assert.NotNull(await store.GetAsync(StateKeys.Routing("payments"), Ct));
            var audit = await new Shadowing.Core.Diagnostics.AuditLog(store, TimeProvider.System).ListAsync(DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime), Ct);
            Assert.Equal(["orders", "payments"], audit.Where(e => e.Action == "apply-routes").Select(e => e.Target));
        }
    }

    [Fact]
    public async Task Routes_InvalidFile_Exit2WithTheFilesProblem_AndTheStoreUntouched()
    {
        await SeedAsync();
        var file = Path.Combine(_directory, "bad.yaml");
        await File.WriteAllTextAsync(file, "services:\n  orders:\n    production:\n      - { id: orders-1, address: http://127.0.0.1:5101, maxConcurency: 32 }\n", Ct);

        var (exit, output) = await RunAsync("routes", "apply", file);

        Assert.Equal(2, exit);
        Assert.Contains("maxConcurency", output, StringComparison.Ordinal);
        using var store = new SqliteStateStore(StatePath, TimeProvider.System);
        Assert.Equal(8, (await store.GetJsonAsync<RoutingTable>(StateKeys.Routing("orders"), Ct))!.Value.Production[0].MaxConcurrency);

        // A rule a stored table is not held to, but a file being applied is.
        await File.WriteAllTextAsync(file, "services:\n  orders:\n    production:\n      - { id: orders-1, address: http://127.0.0.1:5101, maxConcurrency: 32 }\n    mirror: { percent: 5, methods: [] }\n", Ct);
        var (strict, strictOutput) = await RunAsync("routes", "validate", file);
        Assert.Equal(2, strict);
        Assert.Contains("service 'orders': mirror.methods: must name at least one method", strictOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Routes_ApplyDuringAWorkflowsWarmUp_KeepsItsShadowMirrored_AndTheFilesPolicyIsWhatSepPutsBack()
    {
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            // As EnableMirroringActivity leaves it: mirroring turned on for the workflow's shadow, what was there kept.
            await new RoutingTableStore(store, Substitute.For<IEventBus>()).PutAsync(
                new RoutingTable
                {
                    Service = "orders",
                    Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
                    Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:5301", State = ShadowState.WarmingUp, Owner = "wf-1" }],
                    Mirror = new MirrorPolicy { Percent = 10, Targets = ["s1"] },
                },
                Ct);
            await store.SaveJsonAsync(EnableMirroringActivity.BeforeKey("orders"), new MirrorBefore(null), cancellationToken: Ct);
        }

        var file = Path.Combine(_directory, "routes.yaml");
        await File.WriteAllTextAsync(file, "services:\n  orders:\n    production:\n      - { id: orders-1, address: http://127.0.0.1:5101, maxConcurrency: 32 }\n    mirror: { percent: 2, enabled: false }\n", Ct);
        var (applied, output) = await RunAsync("routes", "apply", file);

        Assert.True(applied == 0, output);
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            var mirror = (await store.GetJsonAsync<RoutingTable>(StateKeys.Routing("orders"), Ct))!.Value.Mirror!;
            Assert.Equal((true, 10.0, "s1"), (mirror.Enabled, mirror.Percent, string.Join(",", mirror.Targets)));
            var before = (await store.GetJsonAsync<MirrorBefore>(EnableMirroringActivity.BeforeKey("orders"), Ct))!.Value.Policy!;
            Assert.Equal((false, 2.0), (before.Enabled, before.Percent));
        }

        // Applied again with SEP's record set back (as another SEP run leaves it): the table is unchanged, and what SEP
        // puts back is still made the file's.
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            await store.SaveJsonAsync(EnableMirroringActivity.BeforeKey("orders"), new MirrorBefore(null), cancellationToken: Ct);
        }

        var (again, againOutput) = await RunAsync("routes", "apply", file);
        Assert.True(again == 0, againOutput);
        Assert.Contains("orders: unchanged", againOutput, StringComparison.Ordinal);
        using (var store = new SqliteStateStore(StatePath, TimeProvider.System))
        {
            var before = (await store.GetJsonAsync<MirrorBefore>(EnableMirroringActivity.BeforeKey("orders"), Ct))!.Value.Policy!;
            Assert.Equal((false, 2.0), (before.Enabled, before.Percent));
        }
    }

    [Theory]
    [InlineData("diff")]
    [InlineData("apply")]
    public async Task Routes_AFileTheStoredTableWouldMakeInvalid_Exit2AtDiffAsAtApply_WritingNothing(string action)
    {
        await SeedAsync();
        var twin = Path.Combine(_directory, "twin.yaml");
        await File.WriteAllTextAsync(twin, "services:\n  payments:\n    production:\n      - { id: payments-1, address: http://127.0.0.1:5201, maxConcurrency: 8 }\n  Orders:\n    production:\n      - { id: orders-1, address: http://127.0.0.1:5101, maxConcurrency: 32 }\n", Ct);
        var clash = Path.Combine(_directory, "clash.yaml");
        await File.WriteAllTextAsync(clash, "services:\n  orders:\n    production:\n      - { id: s1, address: http://127.0.0.1:5101, maxConcurrency: 32 }\n", Ct);

        var (twinExit, twinOutput) = await RunAsync("routes", action, twin);
        var (clashExit, clashOutput) = await RunAsync("routes", action, clash);

        Assert.Equal((2, 2), (twinExit, clashExit));
        Assert.Contains("service 'Orders' differs only in case from the stored service 'orders'", twinOutput, StringComparison.Ordinal);
        Assert.Contains("service 'orders' with the stored shadows it keeps:\n  ", clashOutput.ReplaceLineEndings("\n"), StringComparison.Ordinal); // one line per problem
        Assert.DoesNotContain("--verbose", clashOutput, StringComparison.Ordinal);
        using var store = new SqliteStateStore(StatePath, TimeProvider.System);
        Assert.Equal(["orders"], await new RoutingTableStore(store, Substitute.For<IEventBus>()).ListServicesAsync(Ct)); // payments, valid, not written either
        Assert.Equal(8, (await store.GetJsonAsync<RoutingTable>(StateKeys.Routing("orders"), Ct))!.Value.Production[0].MaxConcurrency);
    }

    private async Task SeedAsync()
    {
        using var store = new SqliteStateStore(StatePath, TimeProvider.System);
        await new RoutingTableStore(store, Substitute.For<IEventBus>()).PutAsync(
            new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:5301", State = ShadowState.PreWarmed, Owner = "wf-1" }],
            },
            Ct);
    }

    private Task<(int Exit, string Output)> RunAsync(params string[] arguments) =>
        CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, [.. arguments, "--state", StatePath]);
}
