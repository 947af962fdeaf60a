using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Cli.Tests.Up;

public sealed class UpCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-up-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Up_StartsRouterAndSamples_AnswersThroughRouter_AndCtrlCStopsEverything()
    {
        var marker = "t" + Guid.NewGuid().ToString("N")[..8];
        var config = Path.Combine(_directory, "up.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "Urls": "http://127.0.0.1:0",
              "Samples": {
                "orders": {
                  "Production": [
                    { "Id": "{{marker}}-1", "Port": 0, "Capacity": 4, "LatencyMs": 1 },
                    { "Id": "{{marker}}-2", "Port": 0, "Capacity": 4, "LatencyMs": 1 }
                  ],
                  "Default": { "Id": "{{marker}}-d", "Port": 0, "Capacity": 4, "LatencyMs": 1 }
                }
              }
            }
            """, Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", Path.Combine(_directory, "state.db"), "--admin-urls", "http://127.0.0.1:0"], _directory);

        var router = await up.RouterAddressAsync(TimeSpan.FromSeconds(60), Ct);
        using var http = new HttpClient { BaseAddress = router };
        using var response = await http.GetAsync(new Uri("/orders/hello", UriKind.Relative), Ct);
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith(marker, answer.GetProperty("endpoint").GetString(), StringComparison.Ordinal);
        Assert.Equal("/hello", answer.GetProperty("path").GetString());
        Assert.Equal(3, CliProcess.CountProcessesMentioning(marker));
        Assert.Contains("sample production endpoint", up.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_directory, "state.db")));

        Assert.Equal(0, await up.InterruptAsync(TimeSpan.FromSeconds(30), Ct));
        await Eventually.WaitUntilAsync(() => CliProcess.CountProcessesMentioning(marker) == 0, "every sample endpoint process has exited", cancellationToken: Ct);
    }

    [Fact]
    public async Task Up_CtrlCWhileTheSamplesAreStillStarting_ExitsZero_AndLeavesNoSampleRunning()
    {
        var marker = "c" + Guid.NewGuid().ToString("N")[..8];
        var config = Path.Combine(_directory, "many.json");
        var endpoints = string.Join(",", Enumerable.Range(1, 6).Select(i => $$"""{ "Id": "{{marker}}-{{i}}", "Port": 0, "Capacity": 4, "LatencyMs": 1 }"""));
        await File.WriteAllTextAsync(config, $$"""{ "Urls": "http://127.0.0.1:0", "Samples": { "orders": { "Production": [ {{endpoints}} ] } } }""", Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", ":memory:", "--admin-urls", "http://127.0.0.1:0"], _directory);

        // Six samples start one after another: once the first runs, up is still starting.
        await Eventually.WaitUntilAsync(() => CliProcess.CountProcessesMentioning(marker) > 0, "the first sample endpoint has started", TimeSpan.FromSeconds(60), cancellationToken: Ct);

        Assert.Equal(0, await up.InterruptAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.DoesNotContain("Error:", up.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Admin API listening on ", up.Output, StringComparison.Ordinal); // stopped before it was ready, not after
        await Eventually.WaitUntilAsync(() => CliProcess.CountProcessesMentioning(marker) == 0, "every sample endpoint process has exited", cancellationToken: Ct);
    }

    [Fact]
    public async Task Up_RequestsRightAfterReady_AnsweredByProduction()
    {
        // A tight latency limit: a cold endpoint's first probe or answers (JIT, first connection) exceed it easily,
        // and must not mark production overloaded before it has served anyone.
        var config = Path.Combine(_directory, "tight.json");
        await File.WriteAllTextAsync(config, """
            {
              "Urls": "http://127.0.0.1:0",
              "Samples": {
                "orders": {
                  "MaxLatencyMs": 50,
                  "Production": [ { "Id": "cold-1", "Port": 0, "Capacity": 8, "LatencyMs": 0 } ],
                  "Default": { "Id": "cold-d", "Port": 0, "Capacity": 8, "LatencyMs": 0 }
                }
              }
            }
            """, Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", ":memory:", "--admin-urls", "http://127.0.0.1:0"], _directory);
        var router = await up.RouterAddressAsync(TimeSpan.FromSeconds(60), Ct);
        using var http = new HttpClient { BaseAddress = router };

        // The first six: the five answers the latency is not judged on (LatencyMinSamples) and the first judged by them.
        // Later ones are judged by real answers under a 50 ms limit, which a busy machine can exceed.
        var routes = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await http.GetAsync(new Uri("/orders/hello", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            routes.Add(response.Headers.GetValues("x-shadowing-route").Single());
        }

        Assert.All(routes, r => Assert.Equal("production", r));
    }

    [Fact]
    public async Task Up_RouterPortInUse_ExitsOneWithOneLine()
    {
        using var busy = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        var config = Path.Combine(_directory, "busy.json");
        await File.WriteAllTextAsync(config, $$"""
            { "Urls": "http://127.0.0.1:{{port}}", "Samples": { "orders": { "Production": [ { "Id": "busy-1", "Port": 0 } ] } } }
            """, Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", ":memory:", "--admin-urls", "http://127.0.0.1:0"], _directory);

        var exit = await up.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(1, exit);
        Assert.Contains($"Error: Failed to bind to address http://127.0.0.1:{port}: address already in use.", up.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", up.Output, StringComparison.Ordinal);
        await Eventually.WaitUntilAsync(() => CliProcess.CountProcessesMentioning("busy-1") == 0, "the sample endpoint process has exited", cancellationToken: Ct);
    }

    [Fact]
    public async Task Up_InvalidSampleConfiguration_ExitsNamingTheKey()
    {
        var config = Path.Combine(_directory, "bad.json");
        await File.WriteAllTextAsync(config, """
            { "Samples": { "orders": { "Production": [ { "Id": "o1", "Capacity": 0 } ] } } }
            """, Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", ":memory:", "--admin-urls", "http://127.0.0.1:0"], _directory);

        var exit = await up.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(2, exit);
        Assert.Contains("Samples:orders:Production:0:Capacity", up.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_MisspeltSetting_ExitsNamingIt_BeforeStartingAnySample()
    {
        var config = Path.Combine(_directory, "misspelt.json");
        await File.WriteAllTextAsync(config, """
            { "Pae": { "Planer": { "LeadTime": "00:10:00" } }, "Samples": { "orders": { "Production": [ { "Id": "misspelt-1", "Capacity": 4 } ] } } }
            """, Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", ":memory:", "--admin-urls", "http://127.0.0.1:0"], _directory);

        var exit = await up.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(2, exit);
        Assert.Contains("Pae:Planer is not a setting of shadowing up", up.Output, StringComparison.Ordinal);
        Assert.Equal(0, CliProcess.CountProcessesMentioning("misspelt-1")); // no sample was started
    }

    [Fact]
    public async Task Up_EnvironmentVariables_OverrideTheConfigurationFile()
    {
        var config = Path.Combine(_directory, "good.json");
        await File.WriteAllTextAsync(config, """
            { "Samples": { "orders": { "Production": [ { "Id": "o1", "Capacity": 4 } ] } } }
            """, Ct);
        await using var up = Shadowing.TestUtilities.Hosting.ChildProcess.Start(
            "dotnet",
            [CliProcess.CliDll, "up", "--config", config, "--state", ":memory:", "--admin-urls", "http://127.0.0.1:0"],
            _directory,
            new Dictionary<string, string> { ["Samples__orders__Production__0__Capacity"] = "0" });

        var exit = await up.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(2, exit);
        Assert.Contains("Samples:orders:Production:0:Capacity", up.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_MissingConfigurationFile_ExitsSayingSo()
    {
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", Path.Combine(_directory, "none.json")], _directory);

        Assert.Equal(2, await up.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
        Assert.Contains("does not exist", up.Output, StringComparison.Ordinal);
    }
}
