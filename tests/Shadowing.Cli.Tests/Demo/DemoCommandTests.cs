using System.Text.Json;
using System.Text.RegularExpressions;

namespace Shadowing.Cli.Tests.Demo;

public sealed class DemoCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-demo-test-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task CtrlCWhileItPlays_WritesTheReportOfTheRunSoFar_AndExitsZeroBeforeTheSpike()
    {
        var report = Path.Combine(_directory, "report");
        // At 600× a simulated hour is 6 s: a progress line each, the spike at 13:10 about 70 s in.
        await using var demo = CliProcess.Start("dotnet", [CliProcess.CliDll, "demo", "--speed", "600", "--report", report, "--json"], _directory);
        await demo.WaitForLineAsync(line => Regex.Match(line, @"; requests ([0-9,]+),") is { Success: true } m && m.Groups[1].Value != "0", TimeSpan.FromSeconds(120), Ct); // it plays, with load

        var exit = await demo.InterruptAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.True(exit == 0, demo.Output);
        Assert.Contains("writing the report of the run so far", demo.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(report, "index.html")), demo.Output);
        Assert.True(File.Exists(Path.Combine(report, "demo.log")), demo.Output);
        var json = demo.Output[demo.Output.IndexOf("{\n", StringComparison.Ordinal)..(demo.Output.LastIndexOf('}') + 1)];
        using var summary = JsonDocument.Parse(json);
        var stopped = summary.RootElement.GetProperty("stoppedAt").GetDateTimeOffset();
        Assert.True(stopped < summary.RootElement.GetProperty("simulatedTo").GetDateTimeOffset());
        Assert.True(summary.RootElement.GetProperty("requests").GetInt64() > 0);
        Assert.Contains("by Ctrl+C", await File.ReadAllTextAsync(Path.Combine(report, "index.html"), Ct), StringComparison.Ordinal);
    }
}
