using System.Net;
using System.Text.Json;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Embedded.State;
using Shadowing.Forecasting.Planning;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Cli.Tests.Up;

/// <summary>
/// The router and the workflow host as separate processes over one embedded state file, as they are separate Dapr apps
/// in a deployment: the workflow host is killed (SIGKILL) while its shadow warms up under the router's load, and started
/// again. The router keeps serving production (no client request fails), and the same workflow instance resumes: its
/// shadow is started again where the table points, reaches PreWarmed, and is retired when released.
/// </summary>
public sealed class WorkflowHostKilledUnderLoadTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private readonly string _folder = Directory.CreateTempSubdirectory("workflow-host-kill-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string StatePath => Path.Combine(_folder, "state.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task WorkflowHostKilledMidWarmup_RouterServesEveryRequest_AndTheWorkflowResumesAfterTheRestart()
    {
        var (p1, a1) = await SepHost.StartProductionAsync("orders-1", Ct);
        var (p2, a2) = await SepHost.StartProductionAsync("orders-2", Ct);
        await using var production1 = p1;
        await using var production2 = p2;
        // A window of its own (shadow ids, and so command lines, differ from other tests), at noon six days ahead so the
        // test does not depend on the hour it runs at.
        var now = new DateTimeOffset(TimeProvider.System.GetUtcNow().UtcDateTime.Date, TimeSpan.Zero).AddDays(6).AddHours(12);
        var request = SepHost.Request(now, "workflow host kill test");
        var instance = ShadowLifecycleNames.InstanceId(request);
        var shadowId = ShadowLifecycleNames.ShadowId(request, 1);
        using var store = new SqliteStateStore(StatePath, TimeProvider.System);
        var bus = Substitute.For<IEventBus>(); // nothing here reaches the other processes: they read the store
        var tables = new RoutingTableStore(store, bus);
        await tables.PutAsync(SepHost.Table(a1, a2), Ct);

        await using var router = ChildProcess.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "Shadowing.Router.dll"), .. Common(), "--Router:PollInterval=00:00:01"], CliProcess.RepositoryRoot);
        using var http = new HttpClient { BaseAddress = await ListeningAsync(router), Timeout = TimeSpan.FromSeconds(60) };
        await using var load = new ShadowLifecycleEndToEndTests.Traffic(http, every: TimeSpan.FromMilliseconds(5));
        var host = StartWorkflowHost();
        var firstOutput = string.Empty;
        try
        {
            // The request as the PAE stores it; its message is lost, so the host's maintenance tick decides it.
            await new ShadowRequestStore(store, bus).SubmitAsync(request, Ct);
            await Eventually.WaitUntilAsync(async () => (await ShadowAsync(tables, shadowId))?.State == ShadowState.WarmingUp, $"shadow {shadowId} warming up", Patience, Ct);
            await Eventually.WaitUntilAsync(() => load.Served > 0 && ChildProcess.CountProcessesMentioning(shadowId) == 1, "the router serving while the shadow warms up", Patience, Ct);
            var address = (await ShadowAsync(tables, shadowId))!.Address;

            // Killed: its shadow (a child that exits with its parent) goes with it; the router carries on.
            await host.KillAsync(Ct);
            await Eventually.WaitUntilAsync(() => ChildProcess.CountProcessesMentioning(shadowId) == 0, "the shadow gone with its host", Patience, Ct);
            var servedWhileDown = load.Served;
            await Eventually.WaitUntilAsync(() => load.Served >= servedWhileDown + 50, "the router serving while the workflow host is down", Patience, Ct);
            servedWhileDown = load.Served - servedWhileDown;
            firstOutput = host.Output;
            await host.DisposeAsync();

            host = StartWorkflowHost();
            await Eventually.WaitUntilAsync(async () => (await ShadowAsync(tables, shadowId))?.State == ShadowState.PreWarmed, $"shadow {shadowId} PreWarmed after the restart", Patience, Ct);
            Assert.Equal(1, ChildProcess.CountProcessesMentioning(shadowId)); // started again once

            // Answering where the table points: its old port, unless another process took that port while the host was
            // down (then the provisioner starts it on another and the table follows).
            var restartedAt = (await ShadowAsync(tables, shadowId))!.Address;
            using (var probe = new HttpClient())
            using (var answer = await probe.GetAsync(new Uri(new Uri(restartedAt), "/healthz"), Ct))
            {
                Assert.True(answer.IsSuccessStatusCode, $"the restarted shadow at {restartedAt}: HTTP {(int)answer.StatusCode}");
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"shadow {shadowId} restarted at {restartedAt}, first started at {address}");
            Assert.Equal(instance, (await ShadowAsync(tables, shadowId))!.Owner); // the same instance, resumed
            Assert.Equal("RUNNING", await RuntimeStatusAsync(host, instance));

            // Released, it finishes: the shadow retired and stopped.
            using var workflows = new HttpClient { BaseAddress = await ListeningAsync(host) };
            using (var release = await workflows.PostAsync(new Uri($"/api/workflows/{instance}/events/{ShadowLifecycleNames.Release}", UriKind.Relative), new StringContent("\"test\"", System.Text.Encoding.UTF8, "application/json"), Ct))
            {
                Assert.True(release.IsSuccessStatusCode, $"release: HTTP {(int)release.StatusCode}");
            }

            await Eventually.WaitUntilAsync(async () => await RuntimeStatusAsync(host, instance) == "COMPLETED", "the workflow completed after its release", Patience, Ct);
            await Eventually.WaitUntilAsync(() => ChildProcess.CountProcessesMentioning(shadowId) == 0, "the shadow stopped", Patience, Ct);

            Assert.True(load.Failures.IsEmpty, $"{load.Failures.Count} client request(s) failed: {string.Join("; ", load.Failures.Take(5))}");
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{load.Served} client requests served, 0 failed; {servedWhileDown} of them while the workflow host was down; workflow {instance} resumed and completed");
        }
        catch
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"workflow host output before the kill:\n{firstOutput}\nand after:\n{host.Output}");
            throw;
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static async Task<ShadowEndpoint?> ShadowAsync(RoutingTableStore tables, string shadowId) =>
        (await tables.GetAsync("orders", Ct))?.Value.Shadows.FirstOrDefault(s => s.Id == shadowId);

    private static async Task<Uri> ListeningAsync(ChildProcess process)
    {
        var line = await process.WaitForLineAsync(l => l.Contains("Now listening on: ", StringComparison.Ordinal), Patience, Ct);
        return new Uri(line[line.IndexOf("http", StringComparison.Ordinal)..].Trim());
    }

    private static async Task<string?> RuntimeStatusAsync(ChildProcess host, string instance)
    {
        using var http = new HttpClient { BaseAddress = await ListeningAsync(host) };
        using var response = await http.GetAsync(new Uri($"/api/workflows/{instance}", UriKind.Relative), Ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return json.RootElement.GetProperty("runtimeStatus").GetString();
    }

    private string[] Common() =>
    [
        "--urls=http://127.0.0.1:0",
        "--Shadowing:Mode=Embedded",
        $"--Shadowing:Embedded:StatePath={StatePath}",
        "--Logging:LogLevel:Default=Warning",
        "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
    ];

    private ChildProcess StartWorkflowHost()
    {
        // Warm-up lasts its full 20 s (the sample target is out of reach), so the kill lands in the middle of it. Not
        // amplified: replaying copies toward that target would pace them at tens of thousands a second, and the verdict
        // would judge how fast this machine's local shadow is, not whether the workflow resumed.
        var settings = new Dictionary<string, string>
        {
            ["Shadowing:Sep:WarmupTime"] = "00:00:20",
            ["Shadowing:Sep:WarmupSamples"] = "1000000",
            ["Shadowing:Sep:WarmupCheckInterval"] = "00:00:01",
            ["Shadowing:Sep:RevalidationInterval"] = "00:00:02",
            ["Shadowing:Sep:DrainTime"] = "00:00:01",
            ["Shadowing:Sep:MirrorPercent"] = "100",
            ["Shadowing:Sep:AmplifyThinTraffic"] = "false",
            ["Logging:LogLevel:Shadowing"] = "Information", // printed when the test fails
            ["Logging:LogLevel:Dapr"] = "Information",
            ["Shadowing:Provisioning:Local:Services:orders:Command"] = "dotnet",
            ["Shadowing:Provisioning:Local:Services:orders:StartTimeout"] = "00:01:00",
        };
        for (var i = 0; i < SepHost.ShadowArguments.Length; i++)
        {
            settings[$"Shadowing:Provisioning:Local:Services:orders:Arguments:{i}"] = SepHost.ShadowArguments[i];
        }

        return ChildProcess.Start(
            "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "Shadowing.Workflows.dll"), .. Common(), .. settings.Select(s => $"--{s.Key}={s.Value}")],
            CliProcess.RepositoryRoot);
    }
}
