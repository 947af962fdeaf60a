using System.Diagnostics;
using Shadowing.Core.Shadows;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Tests.Routing;

public sealed class RoutesFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-routes-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Load_Yaml_ReadsEveryService()
    {
        var path = Write("routes.yaml", """
            services:
              orders:
                production:
                  - id: orders-1
                    address: http://127.0.0.1:5101
                    maxConcurrency: 64
                    maxLatencyMs: 250.5
                shadows:
                  - { id: orders-shadow, address: "dapr://orders-shadow", state: PreWarmed }
                default: { id: orders-busy, address: http://127.0.0.1:5109 }
                idempotentRequests:
                  - { method: POST, pathPrefix: /search }
              payments:
                production:
                  - { id: pay-1, address: https://pay.example.com/api, maxConcurrency: 8 }
            """);

        var tables = RoutesFile.Load(path);

        Assert.Equal(["orders", "payments"], tables.Select(t => t.Service));
        var orders = tables[0];
        Assert.Equal(64, orders.Production[0].MaxConcurrency);
        Assert.Equal(250.5, orders.Production[0].MaxLatencyMs);
        Assert.Equal(ShadowState.PreWarmed, orders.Shadows[0].State);
        Assert.Equal("orders-busy", orders.Default!.Id);
        Assert.Equal("/search", orders.IdempotentRequests[0].PathPrefix);
    }

    [Fact]
    public void Load_Yaml_MirrorPolicy()
    {
        var path = Write("routes.yaml", """
            services:
              orders:
                production:
                  - { id: orders-1, address: "http://127.0.0.1:5101", maxConcurrency: 64 }
                shadows:
                  - { id: orders-shadow, address: "http://127.0.0.1:5201", state: WarmingUp, dataIsolated: true }
                mirror:
                  percent: 2.5
                  selector: { kind: JwtClaim, name: sub }
                  methods: [GET, POST]
                  excludePaths: [/admin/**]
                  stripQuery: [api_key]
                  transport: PubSub
                  timeShift: "00:05:00"
                  timeToLive: "00:30:00"
                  amplify: 3
            """);

        var mirror = RoutesFile.Load(path)[0].Mirror!;

        Assert.Equal(2.5, mirror.Percent);
        Assert.Equal((Core.Mirroring.MirrorSelectorKind.JwtClaim, "sub"), (mirror.Selector.Kind, mirror.Selector.Name));
        Assert.Equal(["GET", "POST"], mirror.Methods);
        Assert.Equal(Core.Mirroring.MirrorTransport.PubSub, mirror.Transport);
        Assert.Equal(TimeSpan.FromMinutes(5), mirror.TimeShift);
        Assert.Equal(3, mirror.Amplify);
        Assert.True(RoutesFile.Load(path)[0].Shadows[0].DataIsolated);
    }

    [Fact]
    public void Load_MisspeltMirrorField_ErrorNamesIt()
    {
        var path = Write("routes.yaml", """
            services:
              orders:
                production:
                  - { id: orders-1, address: "http://127.0.0.1:5101", maxConcurrency: 64 }
                mirror: { percnt: 5 }
            """);

        var error = Assert.Throws<RoutesFileException>(() => RoutesFile.Load(path));

        Assert.Contains("percnt", error.Message, StringComparison.Ordinal);
        Assert.Contains("orders", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_Json_ReadsEveryService()
    {
        var path = Write("routes.json", """
            { "services": { "orders": { "production": [ { "id": "p1", "address": "http://127.0.0.1:1", "maxConcurrency": 2 } ] } } }
            """);

        Assert.Equal("p1", Assert.Single(RoutesFile.Load(path)).Production[0].Id);
    }

    [Theory]
    [InlineData("services:\n  orders:\n    production:\n      - { id: p1, address: ftp://x, maxConcurrency: 2 }\n", "production[0].address: 'ftp://x' is not an http(s):// URL or dapr://app-id")]
    [InlineData("services:\n  orders:\n    production:\n      - { id: p1, address: http://x, maxConcurrency: lots }\n", "production[0].maxConcurrency: The value could not be converted")]
    [InlineData("services:\n  orders:\n    production:\n      - { id: p1, address: http://x, maxConcurency: 2 }\n", "production[0].maxConcurency: unknown field")]
    [InlineData("services:\n  orders:\n    production:\n      - { id: p1, address: http://x }\n", "production[0]: missing required field(s) 'maxConcurrency'")]
    [InlineData("services:\n  orders:\n    shadows:\n      - { id: s1, address: http://x, state: Warm }\n", "shadows[0].state: not a shadow state; use one of Provisioning")]
    [InlineData("services:\n  orders:\n    production: []\n", "production: the table has no endpoints at all")]
    [InlineData("services:\n  orders:\n    production:\n      - { id: p1, address: http://x, maxConcurrency: 2 }\n    mirror: { percent: 5, selector: { kind: Headr } }\n", "mirror.selector.kind: not one of Random, Header, Cookie, Query, JwtClaim")]
    public void Load_MalformedTable_MessageNamesFileServiceAndField(string yaml, string expected)
    {
        var path = Write("routes.yaml", yaml);

        var error = Assert.Throws<RoutesFileException>(() => RoutesFile.Load(path));

        Assert.Contains($"'{path}'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"service 'orders': {expected}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("routes.yaml", "services: [ unclosed", "does not parse")]
    [InlineData("routes.json", "{ \"services\": ", "does not parse")]
    [InlineData("routes.yaml", "routes: {}", "must have a 'services' map")]
    [InlineData("routes.yaml", "services:\n  orders: 3\n", "service 'orders': must be a map")]
    public void Load_MalformedFile_MessageNamesFile(string name, string text, string expected)
    {
        var path = Write(name, text);

        var error = Assert.Throws<RoutesFileException>(() => RoutesFile.Load(path));

        Assert.Contains($"'{path}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_SaysSo()
    {
        var error = Assert.Throws<RoutesFileException>(() => RoutesFile.Load(Path.Combine(_directory, "nope.yaml")));

        Assert.Contains("cannot be read", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RouterProcess_MalformedRoutesFile_FailsToStartNamingFileServiceAndField()
    {
        var path = Write("bad.yaml", "services:\n  orders:\n    production:\n      - { id: p1, address: nope, maxConcurrency: 2 }\n");
        var router = Path.Combine(AppContext.BaseDirectory, "Shadowing.Router.dll");
        var start = new ProcessStartInfo("dotnet", [router, "--routes", path, "--urls", "http://127.0.0.1:0", "--Shadowing:Embedded:StatePath", ":memory:"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };

        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, process.ExitCode);
        Assert.Contains($"'{path}'", stderr, StringComparison.Ordinal);
        Assert.Contains("service 'orders': production[0].address: 'nope'", stderr, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}
