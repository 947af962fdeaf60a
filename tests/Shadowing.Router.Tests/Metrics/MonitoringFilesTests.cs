using System.Text.Json;
using System.Text.RegularExpressions;
using Shadowing.TestUtilities.Data;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Router.Tests.Metrics;

/// <summary>
/// The monitoring files in <c>monitoring/</c>: the Prometheus alert rules pass <c>promtool check rules</c> and their unit
/// tests (<c>promtool test rules</c>, Debian's prometheus package, which <c>.ci/run</c> installs), and the rules and the
/// Grafana dashboard name only metrics the product exports. <see cref="PrometheusScrapeTests"/> loads both into a real
/// Prometheus scraping the router.
/// </summary>
public sealed partial class MonitoringFilesTests
{
    internal static readonly string Folder = Path.Combine(RepositoryFiles.Root, "monitoring");
    internal static readonly string Rules = Path.Combine(Folder, "shadowing-alerts.yml");
    internal static readonly string Dashboard = Path.Combine(Folder, "grafana-shadowing-router.json");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("check", "rules", "shadowing-alerts.yml")]
    [InlineData("test", "rules", "shadowing-alerts.test.yml")]
    public async Task AlertRules_PassPromtool(string command, string what, string file)
    {
        var promtool = new[] { "/usr/bin/promtool", "/usr/local/bin/promtool" }.FirstOrDefault(File.Exists);
        if (promtool is null)
        {
            Assert.Skip("Skipped: needs promtool (Debian: apt-get install prometheus; .ci/run installs it).");
        }

        await using var process = ChildProcess.Start(promtool, [command, what, file], Folder);
        var exit = await process.WaitForExitAsync(TimeSpan.FromMinutes(1), Ct);

        Assert.True(exit == 0, $"promtool {command} {what} {file}: exit {exit}{Environment.NewLine}{process.Output}");
        Assert.Contains("SUCCESS", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void RulesAndDashboard_NameOnlyMetricsTheProductExports()
    {
        var exported = ProductMetricNames();
        Assert.Contains("shadowing_router_decisions", exported); // the scan found the instruments

        var used = MetricName().Matches(File.ReadAllText(Rules) + File.ReadAllText(Dashboard)).Select(m => m.Value).Distinct().ToArray();

        Assert.NotEmpty(used);
        Assert.All(used, name => Assert.True(exported.Contains(Instrument(name)), $"{name} is not exported by any instrument of the product (known: {string.Join(", ", exported.Order())})"));
    }

    [Fact]
    public void Dashboard_IsAGrafanaImport_EveryPanelQueriesTheDataSourceInput()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Dashboard));
        var root = json.RootElement;

        Assert.Equal("DS_PROMETHEUS", root.GetProperty("__inputs")[0].GetProperty("name").GetString());
        var panels = root.GetProperty("panels").EnumerateArray().ToArray();
        Assert.True(panels.Length >= 10);
        Assert.Equal(panels.Length, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        Assert.All(panels, p =>
        {
            Assert.Equal("${DS_PROMETHEUS}", p.GetProperty("datasource").GetProperty("uid").GetString());
            Assert.Contains(p.GetProperty("targets").EnumerateArray(), t => !string.IsNullOrWhiteSpace(t.GetProperty("expr").GetString()));
        });
    }

    /// <summary>Every PromQL expression of the dashboard, with its variables as Grafana would fill them for <paramref name="service"/>.</summary>
    internal static IReadOnlyList<string> DashboardQueries(string service)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Dashboard));
        return [.. json.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()!.Replace("$service", service, StringComparison.Ordinal).Replace("$__rate_interval", "1m", StringComparison.Ordinal))];
    }

    /// <summary>The instrument names in the product's sources (<c>shadowing.router.requests</c>), as Prometheus spells them without suffixes.</summary>
    private static HashSet<string> ProductMetricNames() =>
        [.. new[] { "core", "router", "workflows", "functions", "cli" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(RepositoryFiles.Root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => InstrumentName().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value.Replace('.', '_')))];

    /// <summary>The instrument a Prometheus series name comes from: without the counter, histogram and unit suffixes.</summary>
    private static string Instrument(string series)
    {
        foreach (var suffix in new[] { "_total", "_bucket", "_sum", "_count", "_milliseconds", "_seconds" })
        {
            if (series.EndsWith(suffix, StringComparison.Ordinal))
            {
                series = series[..^suffix.Length];
            }
        }

        return series;
    }

    [GeneratedRegex(@"\bshadowing_[a-z_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex("\"(shadowing\\.[a-z_.]+)\"")]
    private static partial Regex InstrumentName();
}
