using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Shadowing.Cli.Control;
using Shadowing.Cli.Up;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Cli.Tests.Control;

/// <summary>
/// <c>shadowing status</c> against a running <c>shadowing up</c>: a shadow started by hand through the admin API is
/// provisioned by SEP and shows with its phase; the admin API is not on the router's port.
/// </summary>
public sealed class StatusCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-status-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void WorkflowLine_AnUnknownState_SaysWhy()
    {
        using var request = JsonDocument.Parse("""{"id":"orders/20261202T1200Z"}""");
        using var unknown = JsonDocument.Parse("""{"instanceId":"wf-1","runtimeStatus":"UNKNOWN","error":"the workflows app did not answer within 5 s"}""");
        using var running = JsonDocument.Parse("""{"instanceId":"wf-1","runtimeStatus":"RUNNING","phase":"Holding","error":null}""");

        Assert.Equal("orders/20261202T1200Z: workflow wf-1 (the workflows app did not answer within 5 s)", StatusCommand.WorkflowLine(request.RootElement, unknown.RootElement));
        Assert.Equal("orders/20261202T1200Z: workflow wf-1", StatusCommand.WorkflowLine(request.RootElement, running.RootElement));
    }

    [Fact]
    public void PaeLine_SaysWhatTheLastRunDidOrWhyItDidNot()
    {
        // forecast-report sends people to status for this; status did not print it.
        using var noForecast = JsonDocument.Parse("""{"service":"orders","pae":{"runAt":"2026-12-07T12:05:00+00:00","forecast":false,"problem":"not enough demand history: 1 whole step(s)"}}""");
        using var forecast = JsonDocument.Parse("""{"service":"orders","pae":{"runAt":"2026-12-07T12:05:00+00:00","forecast":true,"decision":"p90 under capacity: no shadows"}}""");
        using var none = JsonDocument.Parse("""{"service":"orders","pae":null}""");

        Assert.Equal("PAE, last run 12-07 12:05:00: not enough demand history: 1 whole step(s)", StatusCommand.PaeLine(noForecast.RootElement));
        Assert.Equal("PAE, last run 12-07 12:05:00: p90 under capacity: no shadows", StatusCommand.PaeLine(forecast.RootElement));
        Assert.Null(StatusCommand.PaeLine(none.RootElement));
    }

    [Fact]
    public async Task Status_OnARunningUp_PrintsAShadowStartedByHandWithItsPhase()
    {
        var marker = "st" + Guid.NewGuid().ToString("N")[..8];
        var config = Path.Combine(_directory, "up.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "Urls": "http://127.0.0.1:0",
              "Shadowing": { "Sep": { "WarmupCheckInterval": "00:00:01", "DrainTime": "00:00:01" } },
              "Samples": {
                "orders": {
                  "Production": [ { "Id": "{{marker}}-1", "Port": 0, "Capacity": 8, "LatencyMs": 1 } ],
                  "Default": { "Id": "{{marker}}-d", "Port": 0, "Capacity": 8, "LatencyMs": 1 }
                }
              }
            }
            """, Ct);
        await using var up = CliProcess.Start("dotnet", [CliProcess.CliDll, "up", "--config", config, "--state", Path.Combine(_directory, "state.db"), "--admin-urls", "http://127.0.0.1:0"], _directory);
        var router = await up.RouterAddressAsync(TimeSpan.FromSeconds(60), Ct);
        var adminLine = await up.WaitForLineAsync(l => l.StartsWith(UpCommand.AdminLine, StringComparison.Ordinal), TimeSpan.FromSeconds(10), Ct);
        var admin = new Uri(adminLine[UpCommand.AdminLine.Length..].Trim());
        Assert.NotEqual(router.Port, admin.Port);
        using var http = new HttpClient { BaseAddress = admin };
        using (var onDataPlane = await new HttpClient { BaseAddress = router }.GetAsync(new Uri("/api/services/orders", UriKind.Relative), Ct))
        {
            Assert.NotEqual(HttpStatusCode.OK, onDataPlane.StatusCode); // "api" is just a service name there
        }

        using var started = await http.PostAsync(new Uri("/api/services/orders/shadows", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        JsonElement shadow = default;
        await Eventually.WaitUntilAsync(
            async () =>
            {
                var status = await http.GetFromJsonAsync<JsonElement>(new Uri("/api/services/orders", UriKind.Relative), Ct);
                return status.GetProperty("shadows").EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } first && (shadow = first).ValueKind == JsonValueKind.Object;
            },
            "SEP has added the hand-started shadow to the routing table",
            TimeSpan.FromSeconds(90),
            Ct);
        var shadowId = shadow.GetProperty("id").GetString()!;
        var instanceId = shadow.GetProperty("owner").GetString()!;

        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", "orders", "--url", admin.ToString());

        Assert.True(exit == 0, output);
        Assert.Contains(shadowId, output, StringComparison.Ordinal);
        Assert.Matches("Provisioning|WarmingUp|Validating|PreWarmed|Active", output);
        Assert.Contains(instanceId, output, StringComparison.Ordinal);

        var (instanceExit, instanceOutput) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", instanceId, "--url", admin.ToString());
        Assert.True(instanceExit == 0, instanceOutput);
        Assert.Contains("RUNNING", instanceOutput, StringComparison.Ordinal);
        Assert.Contains("ShadowLifecycleWorkflow", instanceOutput, StringComparison.Ordinal);

        var (unknownExit, unknownOutput) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", "nothing-here", "--url", admin.ToString());
        Assert.Equal(2, unknownExit);
        Assert.Contains("'nothing-here' is neither a service nor a workflow instance", unknownOutput, StringComparison.Ordinal);

        Assert.Equal(0, await up.InterruptAsync(TimeSpan.FromSeconds(60), Ct));
        await Eventually.WaitUntilAsync(() => CliProcess.CountProcessesMentioning(shadowId) == 0, "the shadow's process has exited with up", cancellationToken: Ct);
    }

    [Fact]
    public async Task Status_NothingListening_SaysWhereItLookedAndExits1()
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", "--url", "http://127.0.0.1:9");

        Assert.Equal(1, exit);
        Assert.Contains("The control API at http://127.0.0.1:9 does not answer", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_AFunctionKeyToAPlainHttpHostElsewhere_IsAUsageError_NothingSent()
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", "--url", "http://192.0.2.10:7071", "--key", "k-1");

        Assert.Equal(2, exit);
        Assert.Contains("--url: 'http://192.0.2.10:7071' is plain http and not this machine: a function key", output, StringComparison.Ordinal);
        Assert.DoesNotContain("does not answer", output, StringComparison.Ordinal); // refused before any call
    }

    [Fact]
    public async Task Up_AdminUrlsNotLoopback_IsAUsageErrorNamingTheOption()
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "up", "--state", ":memory:", "--admin-urls", "http://0.0.0.0:5081");

        Assert.Equal(2, exit);
        Assert.Contains("--admin-urls: 'http://0.0.0.0:5081' is not a loopback address", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusAndForecastReport_AgainstSomethingThatIsNotTheControlApi_FailNamingTheAnswer_NotExit0()
    {
        // The router's own port, a likely slip: it answers 404 problems for paths that are not its services'.
        await using var notTheApi = await LoopbackApp.StartAsync(null, a => a.MapFallback(c => Results.Problem(statusCode: 404, detail: "No service 'api'.").ExecuteAsync(c)));
        var url = LoopbackApp.AddressOf(notTheApi).ToString();

        var (statusExit, statusOutput) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", "--url", url, "--json");
        var (reportExit, reportOutput) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "forecast-report", "--url", url);

        Assert.True(statusExit == 2, statusOutput);
        Assert.Contains("answered 404 to GET /api/routing: No service 'api'.", statusOutput, StringComparison.Ordinal);
        Assert.True(reportExit == 2, reportOutput);
        Assert.Contains("answered 404 to GET /api/routing", reportOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_A200OfAnotherShape_Exits1NamingTheApi_NotAStackTrace()
    {
        // Another server at --url (or a newer API) answering 200 with an object where the list of tables goes.
        await using var other = await LoopbackApp.StartAsync(null, a => a.MapFallback(c => Results.Json(new { tables = 3 }).ExecuteAsync(c)));
        var url = LoopbackApp.AddressOf(other).ToString();

        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromSeconds(60), Ct, "status", "--url", url);

        Assert.True(exit == 1, output);
        Assert.Contains($"The control API at {url} answered in a shape this shadowing does not read", output, StringComparison.Ordinal);
        Assert.DoesNotContain("--verbose", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ControlApiThatDoesNotAnswer_SaysSoWithTheUrl_NotJustCancelled()
    {
        var hang = new TaskCompletionSource();
        await using var hung = await LoopbackApp.StartAsync(null, a => a.MapFallback(_ => hang.Task));
        var url = LoopbackApp.AddressOf(hung).ToString();
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(1) };

        var error = await Assert.ThrowsAsync<StartFailedException>(() => ControlApiSettings.GetAsync(http, "api/routing", url, Ct));
        hang.SetResult();

        Assert.Equal($"The control API at {url} did not answer GET /api/routing within 1 s.", error.Message);
    }

    [Fact]
    public async Task Get_ARedirect_IsNotFollowed_SoTheFunctionKeyGoesNowhereElse()
    {
        string? keySeen = null;
        await using var elsewhere = await LoopbackApp.StartAsync(null, a => a.MapFallback(c =>
        {
            keySeen = c.Request.Headers["x-functions-key"];
            return Results.Ok().ExecuteAsync(c);
        }));
        var login = new Uri(LoopbackApp.AddressOf(elsewhere), "login").ToString();
        await using var redirecting = await LoopbackApp.StartAsync(null, a => a.MapFallback(c => Results.Redirect(login).ExecuteAsync(c)));
        var url = LoopbackApp.AddressOf(redirecting).ToString();
        using var http = new ControlApiSettings { Url = url, Key = "a-function-key" }.CreateClient();

        var error = await Assert.ThrowsAsync<StartFailedException>(() => ControlApiSettings.GetAsync(http, "api/routing", url, Ct));

        Assert.Null(keySeen);
        Assert.Contains($"redirected GET /api/routing to {login}; not followed", error.Message, StringComparison.Ordinal);
    }
}
