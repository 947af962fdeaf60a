using System.Globalization;
using System.Text.Json;

namespace Shadowing.Cli.Tests.Forecasting;

/// <summary><c>shadowing simulate</c> as a user runs it, on a CSV with a daily evening spike (the real traces run in bench/simulate.sh).</summary>
public sealed class SimulateCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("simulate-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task All_PrintsEveryPolicyWithTheSameSpikes_AndDrawsThePlot()
    {
        var trace = await TraceAsync();
        var plot = Path.Combine(_folder, "simulate.png");

        var (exit, output) = await CliProcess.RunAsync(_folder, TimeSpan.FromMinutes(3), Ct, "simulate", "--trace", trace, "--policy", "All", "--capacity-per-endpoint", "75", "--json", "--plot", plot);

        Assert.True(exit == 0, output);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var policies = json.RootElement.GetProperty("policies").EnumerateArray().ToArray();
        Assert.Equal(["proactive", "reactive", "scheduled", "predictive-hourly"], policies.Select(p => p.GetProperty("policy").GetString()));
        Assert.All(policies, p =>
        {
            Assert.Equal(4, p.GetProperty("spikes").GetInt32());
            foreach (var field in new[] { "sloViolationMinutes", "spikesCoveredBeforeOnset", "capacityHours", "coldStarts" })
            {
                Assert.Equal(JsonValueKind.Number, p.GetProperty(field).ValueKind);
            }
        });
        Assert.Equal(4, policies[0].GetProperty("spikesCoveredBeforeOnset").GetInt32());
        Assert.Equal(4 * 11, policies[1].GetProperty("sloViolationMinutes").GetDouble());
        Assert.True(new FileInfo(plot).Length > 20_000);
    }

    [Fact]
    public async Task OnePolicy_PrintsOneObject_AndTheTableWithoutJson()
    {
        var trace = await TraceAsync();

        var (exit, output) = await CliProcess.RunAsync(_folder, TimeSpan.FromMinutes(1), Ct, "simulate", "--trace", trace, "--policy", "reactive", "--capacity-per-endpoint", "75", "--cold-start", "5m", "--json");
        Assert.True(exit == 0, output);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        Assert.Equal("reactive", json.RootElement.GetProperty("policy").GetString());
        Assert.Equal(4 * 6, json.RootElement.GetProperty("sloViolationMinutes").GetDouble()); // a minute to see each spike, then the 5-minute cold start

        var (tableExit, table) = await CliProcess.RunAsync(_folder, TimeSpan.FromMinutes(1), Ct, "simulate", "--trace", trace, "--policy", "scheduled");
        Assert.Equal(0, tableExit);
        Assert.Contains("scheduled", table, StringComparison.Ordinal);
        Assert.Contains("4 spike(s)", table, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--cold-start", "ten", "--cold-start")]
    [InlineData("--policy", "magic", "--policy")]
    [InlineData("--slo-utilization", "1.5", "--slo-utilization")]
    public async Task BadOption_Exits2NamingIt(string option, string value, string named)
    {
        var trace = await TraceAsync();

        var (exit, output) = await CliProcess.RunAsync(_folder, TimeSpan.FromMinutes(1), Ct, "simulate", "--trace", trace, option, value);

        Assert.Equal(2, exit);
        Assert.Contains(named, output, StringComparison.Ordinal);
    }

    /// <summary>Eight days of 30-minute steps at 100 with a spike to 300 from 18:00 to 20:00 every day.</summary>
    private async Task<string> TraceAsync()
    {
        var path = Path.Combine(_folder, "spikes.csv");
        var start = new DateTime(2026, 3, 2, 0, 0, 0, DateTimeKind.Utc);
        var rows = Enumerable.Range(0, 8 * 48).Select(i => string.Create(CultureInfo.InvariantCulture, $"{start.AddMinutes(30 * i):yyyy-MM-dd HH:mm:ss},{(i % 48 is >= 36 and < 40 ? 300 : 100)}"));
        await File.WriteAllLinesAsync(path, ["timestamp,value", .. rows], Ct);
        return path;
    }
}
