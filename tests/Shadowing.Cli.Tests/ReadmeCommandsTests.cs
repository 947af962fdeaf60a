using System.Text.RegularExpressions;
using Shadowing.TestUtilities.Data;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Cli.Tests;

/// <summary>
/// Every command in the README's <c>bash</c> blocks, run exactly as written from the repository root, or named
/// with the reason it cannot run on a machine without Dapr, Azure Functions Core Tools or Azure. The tests of this
/// class run one after another: several of them build (<c>dotnet run</c>, <c>dotnet pack</c>) in the same tree. They run
/// alone, after the other tests of this project: a dozen builds on two cores starved the end-to-end SEP tests running
/// beside them (a shadow process that took over a minute to answer its health check).
/// </summary>
[Collection(nameof(ReadmeCommandsCollection))]
public sealed partial class ReadmeCommandsTests
{
    /// <summary>Commands that cannot run here, and why; every other README command must be run by a test below.</summary>
    private static readonly (Regex Command, string Why)[] NotRunnableHere =
    [
        (new Regex(@"^dotnet (test|build) Shadowing\.Functions\.sln$"), "the CI script (.ci/run) runs the test command, which builds everything; a test cannot run the suite it belongs to"),
        (new Regex(@"^dapr "), "no daprd, placement or scheduler can be installed on these machines"),
        (new Regex(@"^curl http://localhost:3500/"), "needs daprd's HTTP port from dapr run"),
        (new Regex(@"^(az|func) "), "no Azure access or Functions Core Tools on these machines"),
    ];

    private static readonly string Root = RepositoryFiles.Root;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void EveryReadmeCommand_IsRunByATestHere_OrSaysWhyNot()
    {
        var uncovered = Commands().Where(c => !NotRunnableHere.Any(n => n.Command.IsMatch(c)) && !Runnable.Any(r => r.IsMatch(c))).ToArray();

        Assert.True(uncovered.Length == 0, "README commands with no test: " + string.Join(" | ", uncovered));
    }

    [Fact]
    public async Task QuickStart_UpAsWritten_ThenTheCurlsAsWritten_AnsweredByProduction()
    {
        var up = Single(Up);
        var curls = Commands().Where(c => Curl.IsMatch(c)).ToArray();
        Assert.NotEmpty(curls);
        var state = Directory.CreateTempSubdirectory("shadowing-readme-").FullName;
        try
        {
            // The README's command with only the state file moved out of the tree.
            await using var process = ChildProcess.Start("bash", ["-c", up + " --state " + Path.Combine(state, "state.db")], Root);
            await process.RouterAddressAsync(TimeSpan.FromMinutes(3), Ct);

            var first = await BashAsync(curls[0]);
            Assert.Equal(0, first.Exit);
            Assert.Contains("HTTP/1.1 200", first.Output, StringComparison.Ordinal);
            Assert.Contains("x-shadowing-route: production", first.Output, StringComparison.OrdinalIgnoreCase);
            foreach (var curl in curls.Skip(1))
            {
                var (exit, output) = await BashAsync(curl);
                Assert.True(exit == 0, $"{curl}: exit {exit}{Environment.NewLine}{output}");
                Assert.NotEmpty(output);
            }

            Assert.Contains("shadowing_router_requests_total", (await BashAsync(curls.Single(c => c.Contains("/metrics", StringComparison.Ordinal)))).Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>
    /// The main job as the README writes it, shortened for CI (six simulated hours at 300×, about 75 s, instead of a day
    /// at 720×; <c>bench/demo.sh</c> runs the full one): no client request fails, the PAE asks for the shadow from its
    /// forecast before the spike, the shadow is PreWarmed before the spike, a shadow answers after production is killed,
    /// and the report has its page and non-trivial plots.
    /// </summary>
    [Fact]
    public async Task MainJob_DemoAsWritten_Shortened_NothingFails_ShadowReadyBeforeTheSpike_ReportWritten()
    {
        var demo = Single(Demo);
        var report = Directory.CreateTempSubdirectory("shadowing-demo-report-").FullName;
        try
        {
            var (exit, output) = await BashAsync($"{demo} --duration 06:00:00 --speed 300 --json --report {report}", TimeSpan.FromMinutes(8));

            Assert.True(exit == 0, $"exit {exit}{Environment.NewLine}{output}");
            var json = output[output.IndexOf("\n{\n", StringComparison.Ordinal)..];
            using var summary = System.Text.Json.JsonDocument.Parse(json);
            var root = summary.RootElement;
            Assert.True(root.GetProperty("requests").GetInt64() > 1000, json);
            Assert.Equal(0, root.GetProperty("failedRequests").GetInt64());
            var onset = root.GetProperty("spikeOnset").GetDateTimeOffset();
            var request = root.GetProperty("shadowRequest");
            Assert.Contains("Demand", request.GetProperty("kinds").EnumerateArray().Select(k => k.GetString()));
            Assert.StartsWith("demand: p90", request.GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.True(request.GetProperty("createdAt").GetDateTimeOffset() < onset, json);
            Assert.True(root.GetProperty("preWarmedAt").GetDateTimeOffset() < onset, json);
            Assert.True(root.GetProperty("shadowLeadSeconds").GetDouble() > 0, json);
            Assert.Equal(System.Text.Json.JsonValueKind.Number, root.GetProperty("failoverMs").ValueKind);
            Assert.Contains("Pass", root.GetProperty("verdicts").EnumerateObject().Select(v => v.Value.GetString()));
            Assert.Equal(report, root.GetProperty("reportDir").GetString());

            var page = File.ReadAllText(Path.Combine(report, "index.html"));
            foreach (var image in new[] { "demand-forecast.png", "capacity.png", "routing.png", "latency.png", "phases.png" })
            {
                Assert.Contains($"src=\"{image}\"", page, StringComparison.Ordinal);
                var bytes = File.ReadAllBytes(Path.Combine(report, image));
                Assert.Equal("PNG", System.Text.Encoding.ASCII.GetString(bytes, 1, 3));
                Assert.Equal(1400, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4)));
                Assert.True(bytes.Length > 30_000, $"{image} is {bytes.Length} bytes: an empty plot?");
            }
        }
        finally
        {
            Directory.Delete(report, recursive: true);
        }
    }

    [Fact]
    public async Task OperatingCommands_AsWritten_WorkBesideARunningUp()
    {
        var outputs = await RunBesideUpAsync(Operate, expected: 4);

        Assert.Contains("No shadow requests yet.", outputs[0], StringComparison.Ordinal);
        Assert.Contains("Kill switch engaged by oncall", outputs[1], StringComparison.Ordinal);
        Assert.Contains("Kill switch off", outputs[2], StringComparison.Ordinal);
        Assert.Contains("Service orders has no shadows.", outputs[3], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlCommands_AsWritten_WorkBesideARunningUp()
    {
        var outputs = await RunBesideUpAsync(Control, expected: 5);

        Assert.Contains("\"requestId\":\"orders/", outputs[0], StringComparison.Ordinal); // the POST: 202 with the request
        Assert.Contains("Open shadow requests", outputs[1], StringComparison.Ordinal);
        Assert.Contains("Added 'xmas-sale'", outputs[2], StringComparison.Ordinal);
        Assert.Contains("xmas-sale", outputs[3], StringComparison.Ordinal);
        Assert.Contains("orders: ", outputs[4], StringComparison.Ordinal);
    }

    /// <summary>
    /// As written: <c>up</c> and the README's commands matching <paramref name="pattern"/> from the repository root, on
    /// up's default state file (removed afterwards unless it was there before); returns each command's output.
    /// </summary>
    private static async Task<IReadOnlyList<string>> RunBesideUpAsync(Regex pattern, int expected)
    {
        var commands = Commands().Where(c => pattern.IsMatch(c)).ToArray();
        Assert.Equal(expected, commands.Length);
        var folder = Path.Combine(Root, ".shadowing");
        var hadFolder = Directory.Exists(folder);
        try
        {
            await using var up = ChildProcess.Start("bash", ["-c", Single(Up)], Root);
            await up.RouterAddressAsync(TimeSpan.FromMinutes(3), Ct);
            var outputs = new List<string>();
            foreach (var command in commands)
            {
                var (exit, output) = await BashAsync(command, TimeSpan.FromMinutes(3));
                Assert.True(exit == 0, $"{command}: exit {exit}{Environment.NewLine}{output}");
                outputs.Add(output);
            }

            return outputs;
        }
        finally
        {
            if (!hadFolder && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public async Task RouterOnItsOwn_AsWritten_StartsAndAnswersHealth()
    {
        var command = Single(RouterRun);
        var state = Directory.CreateTempSubdirectory("shadowing-readme-router-").FullName;
        try
        {
            await using var router = ChildProcess.Start("bash", ["-c", command], Root, new Dictionary<string, string> { ["Shadowing__Embedded__StatePath"] = Path.Combine(state, "state.db") });
            using var http = new HttpClient();
            var healthz = new Uri("http://127.0.0.1:5080/healthz");
            string? body = null;
            for (var attempt = 0; attempt < 240 && body is null; attempt++)
            {
                try
                {
                    body = await http.GetStringAsync(healthz, Ct);
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, Ct);
                }
            }

            Assert.NotNull(body);
            Assert.Contains("\"services\":1", body, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", router.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task Backtest_AsWritten_PrintsItsJson()
    {
        RepositoryFiles.RequireNab("nyc_taxi.csv");
        var (exit, output) = await BashAsync(Single(Backtest), TimeSpan.FromMinutes(10));

        Assert.True(exit == 0, output);
        Assert.Contains("\"wape\":", output, StringComparison.Ordinal);
        Assert.Contains("\"duplicates\":{\"policy\":\"mean\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Risk_AsWritten_WritesItsOutputInTheCurrentDirectory()
    {
        RepositoryFiles.RequireNab("ec2_network_in_5abac7.csv");
        var command = Single(Risk);
        var output = Path.Combine(Root, OutputOption().Match(command).Groups[1].Value);
        try
        {
            var (exit, printed) = await BashAsync(command, TimeSpan.FromMinutes(5));

            Assert.True(exit == 0, printed);
            Assert.True(File.Exists(output), $"{output} written");
            Assert.Contains("\"duplicates\":{\"policy\":\"mean\",\"rows\":11,\"timestamps\":1}", printed, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public async Task DotnetTool_AsWritten_PacksInstallsAndRuns()
    {
        var commands = Commands().Where(c => Tool.IsMatch(c)).ToArray();
        Assert.Equal(3, commands.Length);
        var home = Directory.CreateTempSubdirectory("shadowing-tool-home-").FullName;
        var artifacts = Path.Combine(Root, "artifacts");
        var hadArtifacts = Directory.Exists(artifacts);
        try
        {
            // A global install goes below DOTNET_CLI_HOME: a throwaway one keeps this machine's tools untouched.
            var environment = new Dictionary<string, string>
            {
                ["DOTNET_CLI_HOME"] = home,
                ["PATH"] = Path.Combine(home, ".dotnet", "tools") + ":" + Environment.GetEnvironmentVariable("PATH"),
            };
            string last = string.Empty;
            foreach (var command in commands)
            {
                var (exit, output) = await BashAsync(command, TimeSpan.FromMinutes(10), environment);
                Assert.True(exit == 0, $"{command}: exit {exit}{Environment.NewLine}{output}");
                last = output;
            }

            Assert.Matches(@"^\d+\.\d+\.\d+", last.Trim());
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            if (!hadArtifacts && Directory.Exists(artifacts))
            {
                Directory.Delete(artifacts, recursive: true);
            }
        }
    }

    [Fact]
    public async Task LocalSettingsCopy_AsWritten_CreatesTheFunctionsSettings()
    {
        var command = Single(CopySettings);
        var target = Path.Combine(Root, "functions", "Shadowing.Functions", "local.settings.json");
        var existed = File.Exists(target);
        var before = existed ? await File.ReadAllTextAsync(target, Ct) : null;
        try
        {
            var (exit, output) = await BashAsync(command);

            Assert.True(exit == 0, output);
            Assert.Contains("ForecastSchedule", await File.ReadAllTextAsync(target, Ct), StringComparison.Ordinal);
        }
        finally
        {
            if (existed)
            {
                await File.WriteAllTextAsync(target, before, Ct);
            }
            else
            {
                File.Delete(target);
            }
        }
    }

    /// <summary>Every command of the README's bash blocks, continuation lines joined and comments removed.</summary>
    private static IReadOnlyList<string> Commands()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        return [.. BashBlock().Matches(readme)
            .SelectMany(block => block.Groups[1].Value.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n'))
            .Select(line => Comment().Replace(line, string.Empty))
            .Select(line => Spaces().Replace(line, " ").Trim())
            .Where(line => line.Length > 0)];
    }

    private static string Single(Regex pattern)
    {
        var matches = Commands().Where(c => pattern.IsMatch(c)).ToArray();
        Assert.True(matches.Length == 1, $"README has {matches.Length} command(s) matching {pattern}");
        return matches[0];
    }

    private static async Task<(int Exit, string Output)> BashAsync(string command, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        await using var process = ChildProcess.Start("bash", ["-c", command], Root, environment);
        var exit = await process.WaitForExitAsync(timeout ?? TimeSpan.FromMinutes(1), Ct);
        return (exit, process.Output);
    }

    private static readonly Regex Up = new(@"^dotnet run --project cli/Shadowing\.Cli -- up$");
    private static readonly Regex Demo = new(@"^dotnet run --project cli/Shadowing\.Cli -- demo$");
    private static readonly Regex Curl = new(@"^curl (-i )?http://127\.0\.0\.1:5080/");
    private static readonly Regex RouterRun = new(@"^dotnet run --project router/Shadowing\.Router -- ");
    private static readonly Regex Backtest = new(@"^dotnet run --project cli/Shadowing\.Cli -c Release -- backtest ");
    private static readonly Regex Risk = new(@"^dotnet run --project cli/Shadowing\.Cli -c Release -- risk ");
    private static readonly Regex Tool = new(@"^(dotnet pack cli/Shadowing\.Cli |dotnet tool install --global Shadowing\.Cli |shadowing --version$)");
    private static readonly Regex CopySettings = new(@"^cp functions/Shadowing\.Functions/local\.settings\.sample\.json ");
    private static readonly Regex Operate = new(@"^dotnet run --project cli/Shadowing\.Cli -- (plans|kill-switch|validate)( |$)");
    private static readonly Regex Control = new(@"^(dotnet run --project cli/Shadowing\.Cli -- (status|events|routes)( |$)|curl -X POST http://127\.0\.0\.1:5081/)");
    private static readonly Regex[] Runnable = [Up, Demo, Curl, RouterRun, Backtest, Risk, Tool, CopySettings, Operate, Control];

    [GeneratedRegex("```bash\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex BashBlock();

    [GeneratedRegex(@"\s+#.*$")]
    private static partial Regex Comment();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"--output (\S+)")]
    private static partial Regex OutputOption();
}

/// <summary>The README's commands run alone (see <see cref="ReadmeCommandsTests"/>).</summary>
[CollectionDefinition(nameof(ReadmeCommandsCollection), DisableParallelization = true)]
public sealed class ReadmeCommandsCollection;
