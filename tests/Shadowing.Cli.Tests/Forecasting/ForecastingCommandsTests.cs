using System.Globalization;
using System.Text.Json;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Cli.Tests.Forecasting;

/// <summary>The <c>backtest</c> and <c>risk</c> commands, run as users run them: as a process.</summary>
public sealed class ForecastingCommandsTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2014, 7, 7, 0, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-cli-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Backtest_Json_HasTheDocumentedFields()
    {
        var input = Synthetic("demand.csv", days: 30);

        var points = Path.Combine(_directory, "points.csv");
        var (exit, output) = await RunAsync("backtest", "--input", input, "--horizon", "2", "--start-index", "1300", "--end-index", "1400", "--json", "--output", points);

        Assert.Equal(0, exit);
        var rows = await File.ReadAllLinesAsync(points, Ct);
        Assert.Equal("time,actual,p50,p90,method", rows[0]);
        Assert.Equal(102, rows.Length);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("horizon").GetInt32());
        Assert.Equal(101, root.GetProperty("points").GetInt32());
        foreach (var field in new[] { "wape", "nrmse", "mase", "coverageP90", "trainSeconds", "peakCoverageP90" })
        {
            Assert.True(root.GetProperty(field).GetDouble() >= 0, field);
        }

        foreach (var field in new[] { "bias", "peakBias", "forecastPeakBias" })
        {
            Assert.True(double.IsFinite(root.GetProperty(field).GetDouble()), field);
        }

        Assert.True(root.GetProperty("baselines").GetProperty("seasonalNaiveDay").GetProperty("wape").GetDouble() > 0);
        Assert.True(root.GetProperty("baselines").GetProperty("seasonalNaiveWeek").GetProperty("wape").GetDouble() > 0);
        Assert.True(root.GetProperty("wape").GetDouble() < root.GetProperty("baselines").GetProperty("seasonalNaiveDay").GetProperty("wape").GetDouble());
    }

    [Fact]
    public async Task Backtest_GapsAndJitteredTimestamps_ResamplesAndRuns()
    {
        var path = Path.Combine(_directory, "irregular.csv");
        var series = SyntheticSeries.Demand(Start, TimeSpan.FromMinutes(5), 288 * 8, seed: 3);
        var lines = new List<string> { "timestamp,value" };
        for (var i = 0; i < series.Count; i++)
        {
            if (i % 97 == 5)
            {
                continue; // a missing sample
            }

            var jitter = TimeSpan.FromSeconds(i % 7 == 0 ? 40 : -20);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{(series.TimeAt(i) + jitter).UtcDateTime:yyyy-MM-dd HH:mm:ss},{series.Values[i]:F2}"));
        }

        await File.WriteAllLinesAsync(path, lines, Ct);

        var (exit, output) = await RunAsync("backtest", "--input", path, "--horizon", "3", "--json");

        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        Assert.Equal("00:05:00", json.RootElement.GetProperty("resampling").GetProperty("step").GetString());
        var filled = json.RootElement.GetProperty("resampling").GetProperty("filled").GetInt32();
        Assert.Equal(24, filled); // every 97th sample was dropped; jitter of up to 40 s moves nothing off its step
        Assert.InRange(json.RootElement.GetProperty("wape").GetDouble(), 0, 0.5);
        Assert.True(json.RootElement.GetProperty("points").GetInt32() >= (288 * 4) - 3 - 12); // filled targets are not scored

        var riskOutput = Path.Combine(_directory, "irregular.risk.csv");
        var (riskExit, _) = await RunAsync("risk", "--input", path, "--output", riskOutput);
        Assert.Equal(0, riskExit);
        Assert.Equal(lines.Count, (await File.ReadAllLinesAsync(riskOutput, Ct)).Length); // one row per input row, gaps not invented
    }

    [Theory]
    [InlineData("timestamp,value\n2014-07-07 00:30:00,1\n2014-07-07 00:00:00,2\n", "row 3")]
    [InlineData("timestamp,value\n2014-07-07 00:00:00,1\n2014-07-07 00:30:00,-2\n", "row 3: value -2 is negative")]
    [InlineData("timestamp,value\n", "has no data rows")]
    public async Task Backtest_BadInput_ExitsNamingTheRow(string csv, string expected)
    {
        var path = Path.Combine(_directory, "bad.csv");
        await File.WriteAllTextAsync(path, csv, Ct);

        var (exit, output) = await RunAsync("backtest", "--input", path, "--horizon", "1");

        Assert.Equal(2, exit);
        Assert.Contains("bad.csv", output, StringComparison.Ordinal);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BacktestAndRisk_RepeatedTimestamps_MergedAndCounted()
    {
        // Eight days every 30 minutes, with the 02:00-03:00 hour of day 3 written twice (a clock set back) and
        // 03:30 of day 5 written three times.
        var series = SyntheticSeries.Demand(Start, TimeSpan.FromMinutes(30), 8 * 48, seed: 5);
        var lines = new List<string> { "timestamp,value" };
        for (var i = 0; i < series.Count; i++)
        {
            lines.Add(Row(series.TimeAt(i), series.Values[i]));
            if (i == (2 * 48) + 5)
            {
                lines.AddRange(Enumerable.Range(4, 2).Select(j => Row(series.TimeAt((2 * 48) + j), series.Values[(2 * 48) + j] + 1)));
            }

            if (i == (4 * 48) + 7)
            {
                lines.Add(Row(series.TimeAt(i), series.Values[i] + 2));
                lines.Add(Row(series.TimeAt(i), series.Values[i] + 4));
            }
        }

        var path = Path.Combine(_directory, "repeats.csv");
        await File.WriteAllLinesAsync(path, lines, Ct);

        var (exit, output) = await RunAsync("backtest", "--input", path, "--horizon", "2", "--json");
        var (riskExit, riskOutput) = await RunAsync("risk", "--input", path, "--output", Path.Combine(_directory, "repeats.risk.csv"), "--duplicates", "last", "--json");

        Assert.True(exit == 0, output);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var duplicates = json.RootElement.GetProperty("resampling").GetProperty("duplicates");
        Assert.Equal("mean", duplicates.GetProperty("policy").GetString());
        Assert.Equal(4, duplicates.GetProperty("rows").GetInt32());
        Assert.Equal(3, duplicates.GetProperty("timestamps").GetInt32());
        Assert.True(riskExit == 0, riskOutput);
        using var risk = JsonDocument.Parse(riskOutput.Trim().Split('\n')[^1]);
        Assert.Equal("last", risk.RootElement.GetProperty("resampling").GetProperty("duplicates").GetProperty("policy").GetString());
        Assert.Equal(series.Count, risk.RootElement.GetProperty("rows").GetInt32());
        Assert.Equal(series.Count + 1, (await File.ReadAllLinesAsync(Path.Combine(_directory, "repeats.risk.csv"), Ct)).Length);

        static string Row(DateTimeOffset time, double value) => string.Create(CultureInfo.InvariantCulture, $"{time.UtcDateTime:yyyy-MM-dd HH:mm:ss},{value:F2}");
    }

    [Theory]
    [InlineData("ec2_network_in_5abac7.csv", 11, 1)]
    [InlineData("machine_temperature_system_failure.csv", 12, 12)]
    public async Task Risk_RealSeriesWithRepeatedTimestamps_RunsAndReportsTheMerge(string file, int rows, int timestamps)
    {
        var input = RepositoryFiles.RequireNab(file);

        var (exit, output) = await RunAsync("risk", "--input", input, "--output", Path.Combine(_directory, "out.csv"), "--json");

        Assert.True(exit == 0, output);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var duplicates = json.RootElement.GetProperty("resampling").GetProperty("duplicates");
        Assert.Equal(rows, duplicates.GetProperty("rows").GetInt32());
        Assert.Equal(timestamps, duplicates.GetProperty("timestamps").GetInt32());
    }

    [Fact]
    public async Task Backtest_MissingHorizon_Refused()
    {
        var (exit, output) = await RunAsync("backtest", "--input", Synthetic("x.csv", days: 2));

        Assert.NotEqual(0, exit);
        Assert.Contains("--horizon", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backtest_Plot_WritesAPng()
    {
        var input = Synthetic("plot.csv", days: 10);
        var png = Path.Combine(_directory, "plot.png");

        var (exit, _) = await RunAsync("backtest", "--input", input, "--horizon", "1", "--start-index", "400", "--end-index", "460", "--plot", png);

        Assert.Equal(0, exit);
        var bytes = await File.ReadAllBytesAsync(png, Ct);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes.Take(4));
    }

    [Fact]
    public async Task Risk_WritesScoreAndAlarmForEveryInputRow()
    {
        var input = Synthetic("cpu.csv", days: 9, stepMinutes: 5);
        var output = Path.Combine(_directory, "cpu.risk.csv");

        var (exit, summary) = await RunAsync("risk", "--input", input, "--output", output, "--json");

        Assert.Equal(0, exit);
        var rows = await File.ReadAllLinesAsync(output, Ct);
        Assert.Equal("timestamp,value,score,alarm", rows[0]);
        Assert.Equal((await File.ReadAllLinesAsync(input, Ct)).Length, rows.Length);
        Assert.All(rows.Skip(1), r =>
        {
            var fields = r.Split(',');
            var score = double.Parse(fields[2], CultureInfo.InvariantCulture);
            Assert.InRange(score, 0, 1);
            Assert.Contains(fields[3], new[] { "0", "1" });
        });
        using var json = JsonDocument.Parse(summary.Trim().Split('\n')[^1]);
        Assert.Equal(rows.Length - 1, json.RootElement.GetProperty("rows").GetInt32());
    }

    [Fact]
    public async Task Risk_BadInput_ExitsNamingTheRow()
    {
        var path = Path.Combine(_directory, "nan.csv");
        await File.WriteAllTextAsync(path, "timestamp,value\n2014-07-07 00:00:00,1\n2014-07-07 00:05:00,NaN\n", Ct);

        var (exit, output) = await RunAsync("risk", "--input", path, "--output", Path.Combine(_directory, "o.csv"));

        Assert.Equal(2, exit);
        Assert.Contains("row 3: value 'NaN' is not a finite number", output, StringComparison.Ordinal);
    }

    private string Synthetic(string name, int days, int stepMinutes = 30)
    {
        var path = Path.Combine(_directory, name);
        SyntheticSeries.WriteCsv(SyntheticSeries.Demand(Start, TimeSpan.FromMinutes(stepMinutes), days * 1440 / stepMinutes, seed: 2), path);
        return path;
    }

    private Task<(int Exit, string Output)> RunAsync(params string[] arguments) => CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(3), Ct, arguments);
}
