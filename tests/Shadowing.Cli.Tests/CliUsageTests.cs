using System.Reflection;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Tests;

/// <summary>How <c>shadowing</c> answers a wrong invocation, <c>--help</c> and <c>--version</c>: run as a process.</summary>
public sealed class CliUsageTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-usage-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Each bad invocation and a part of the message it must print.</summary>
    public static TheoryData<string[], string> BadInvocations => new()
    {
        { ["backtest", "--input", "x.csv", "--horzon", "5"], "unknown option '--horzon' for 'shadowing backtest'. Did you mean '--horizon'?" },
        { ["risk", "--input", "x.csv", "--output", "o.csv", "--horizn", "1"], "unknown option '--horizn' for 'shadowing risk'" },
        { ["backtest", "--input", "x.csv", "--bogus", "1"], "unknown option '--bogus'" },
        { ["up", "--stat", "x.db"], "Did you mean '--state'?" },
        { ["bakctest"], "unknown command 'bakctest'. Did you mean 'backtest'?" },
        { ["backtest", "stray"], "unexpected argument 'stray' for 'shadowing backtest'" },
        { ["backtest", "--input", "x.csv", "--horizon", "abc"], "option '--horizon': 'abc' is not a whole number" },
        { ["backtest", "--input", "x.csv", "--horizon", "5", "--start-index", "abc"], "option '--start-index': 'abc' is not a whole number" },
        { ["backtest", "--input", "x.csv", "--horizon", "5", "--start-index=abc"], "option '--start-index': 'abc' is not a whole number" },
        { ["events", "add", "orders", "--multiplier", "two"], "option '--multiplier': 'two' is not a number" },
        { ["backtest", "--input", "x.csv", "--horizon"], "option '--horizon' needs a value" },
        { ["backtest", "--input", "series.csv", "--horizon", "5", "--duplicates", "median"], "option '--duplicates': 'median' is not one of mean, sum, last, error" },
        { ["backtest", "--input", "series.csv", "--horizon", "5", "--holidays", "XX"], "--holidays: no public-holiday calendar for country 'XX'" },
        { ["backtest", "--input", "series.csv", "--horizon", "5", "--time-zone", "America/Nowhere"], "--time-zone: unknown time zone 'America/Nowhere'" },
        { ["backtest", "--horizon", "5"], "--input is required" },
        { ["backtest", "--input", "series.csv", "--horizon", "5", "--max-bins-per-feature", "1"], "--max-bins-per-feature must be between 2 and 1024, not 1" },
        { ["backtest", "--input", "series.csv"], "--horizon is required" },
        { ["backtest", "--input", "series.csv", "--horizon", "1", "--start-index", "900"], "--start-index must be between 1 and" },
        { ["backtest", "--input", "series.csv", "--horizon", "1", "--start-index", "0"], "--start-index must be at least 1 (an origin needs a value before it), not 0" },
        { ["backtest", "--input", "missing.csv", "--horizon", "1"], "--input: file 'missing.csv' does not exist" },
        { ["backtest", "--input", "series.csv", "--horizon", "1", "--events", "missing.csv"], "--events: file 'missing.csv' does not exist" },
        { ["risk", "--input", "series.csv", "--output", "no/such/folder/o.csv"], "--output: folder" },
        { ["backtest", "--input", "series.csv", "--horizon", "1", "--plot", "no/such/folder/p.png"], "--plot: folder" },
        { ["demo", "--duration", "12"], "--duration: '12' is not a duration such as 12h" },
        { ["risk", "--input", "series.csv", "--output", "o.csv", "--windows", "series.csv"], "--windows: 'series.csv' is not a JSON map" },
        { ["risk", "--input", "repeats.csv", "--output", "o.csv", "--duplicates", "error"], "repeats.csv, row 3: timestamp 2014-07-07 00:00:00 repeats row 2" },
        { ["up", "--config", "missing.json"], "--config: configuration file 'missing.json' does not exist" },
        { ["up", "--config", "series.csv"], "--config: 'series.csv' is not valid JSON" },
        { ["up", "--urls", "localhost:5080", "--state", ":memory:"], "--urls: 'localhost:5080' is not a URL to listen on" },
        { ["up", "--config", "bad-sample.json", "--state", ":memory:"], "Samples:orders:Production:0:Capacity" },
        { ["up", "--config", "bad-setting.json", "--state", ":memory:"], "invalid setting: Failed to convert configuration value '10s' at 'Router:PollInterval'" },
        { ["up", "--config", "bad-source.json", "--state", ":memory:"], "invalid setting: Pae:Source is 'Graphite'; use Router, Prometheus" },
        { ["validate"], "--service is required" },
        { ["plans", "--service", "Orders!", "--state", ":memory:"], "--service: 'Orders!' is not a service name" },
        { ["validate", "--service", "orders", "--state", "missing.db"], "--state: 'missing.db' does not exist" },
        { ["promote", "orders", "s1", "--state", "missing.db"], "--state: 'missing.db' does not exist" },
        { ["promote", "orders", "s1", "--to", "2"], "--to: '2' is neither active nor production" },
        { ["backtest", "--input", "series.csv", "--horizon", "1", "--duplicates", "1"], "option '--duplicates': '1' is not one of mean, sum, last, error" }, // the enum converter took numbers
        { ["risk", "--input", "series.csv", "--output", "o.csv", "--duplicates", "mean,sum"], "option '--duplicates': 'mean,sum' is not one of" },
        { ["demo", "--report", "series.csv"], "--report: 'series.csv' cannot be the report's folder" }, // before the run, not two minutes into it
        { ["validate", "--service", "orders", "--state", "series.csv"], "--state: 'series.csv' is not a SQLite state file" },
        { ["validate", "--service", "orders/", "--state", "series.csv"], "--service: 'orders/' is not a service name" },
        { ["validate", "--service", "orders", "--window", "30m"], "--window applies only with --judge" },
        { ["risk", "--input", "series.csv", "--output", "o.csv", "--windows", "null-window.json"], "--windows: 'null-window.json' is not a JSON map" },
        { ["promote", "orders/x", "s1"], "<SERVICE>: 'orders/x' is not a service name" },
    };

    [Theory]
    [MemberData(nameof(BadInvocations))]
    public async Task BadInvocation_ExitsTwoWithOneLineNamingTheProblem_AndNoStackTrace(string[] arguments, string expected)
    {
        await WriteInputsAsync();

        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, arguments);

        Assert.True(exit == 2, $"exit {exit}, output:{Environment.NewLine}{output}");
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.StartsWith("Error: ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadInvocation_WithVerbose_AlsoPrintsTheDetails()
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "backtest", "--input", "missing.csv", "--horizon", "1", "--verbose");

        Assert.Equal(2, exit);
        Assert.Contains("UsageException", output, StringComparison.Ordinal);
        Assert.Contains("   at ", output, StringComparison.Ordinal);
    }

    public static TheoryData<string> Commands => [.. ShadowingCommands.Settings.Keys];

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Help_EveryCommand_RendersEveryOption(string command)
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, command, "--help");

        Assert.True(exit == 0, output);
        Assert.Contains("OPTIONS:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Error", output, StringComparison.Ordinal);
        foreach (var option in ShadowingCommands.Settings[command].GetProperties().Select(p => p.GetCustomAttribute<CommandOptionAttribute>()).OfType<CommandOptionAttribute>())
        {
            Assert.Contains("--" + option.LongNames[0], output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Help_Root_ListsTheCommandsButNotTheHiddenOne()
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "--help");

        Assert.Equal(0, exit);
        Assert.Contains("backtest", output, StringComparison.Ordinal);
        Assert.Contains("risk", output, StringComparison.Ordinal);
        Assert.Contains("up", output, StringComparison.Ordinal);
        Assert.DoesNotContain(ShadowingCommands.Hidden, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_PrintsTheAssemblyVersion()
    {
        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "--version");

        Assert.Equal(0, exit);
        Assert.Matches(@"^\d+\.\d+\.\d+", output.Trim());
    }

    [Theory]
    [InlineData("--horzon", "--horizon")]
    [InlineData("--HORIZON", "--horizon")]
    [InlineData("--retrain", null)]
    [InlineData("--xyz", null)]
    public void Closest_SuggestsOnlyTypos(string token, string? expected) =>
        Assert.Equal(expected, CliErrors.Closest(token, ["--horizon", "--input", "--retrain-every", "--holidays"]));

    private async Task WriteInputsAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "series.csv"), "timestamp,value\n" + string.Join('\n', Enumerable.Range(0, 600).Select(i => $"{new DateTime(2014, 7, 7).AddMinutes(5 * i):yyyy-MM-dd HH:mm:ss},{i % 17}")), Ct);
        await File.WriteAllTextAsync(Path.Combine(_directory, "repeats.csv"), "timestamp,value\n2014-07-07 00:00:00,1\n2014-07-07 00:00:00,2\n2014-07-07 00:05:00,3\n", Ct);
        await File.WriteAllTextAsync(Path.Combine(_directory, "bad-setting.json"), """{ "Router": { "PollInterval": "10s" } }""", Ct);
        await File.WriteAllTextAsync(Path.Combine(_directory, "bad-source.json"), """{ "Pae": { "Source": "Graphite" } }""", Ct);
        await File.WriteAllTextAsync(Path.Combine(_directory, "null-window.json"), """{ "series.csv": [ [ null, "2014-07-08 00:00:00" ] ] }""", Ct);
        await File.WriteAllTextAsync(Path.Combine(_directory, "bad-sample.json"), """{ "Samples": { "orders": { "Production": [ { "Id": "o1", "Capacity": 0 } ] } } }""", Ct);
    }
}
