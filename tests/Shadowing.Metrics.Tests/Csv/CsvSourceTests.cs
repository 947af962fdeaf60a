using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Metrics;
using Shadowing.Metrics.Csv;

namespace Shadowing.Metrics.Tests.Csv;

public sealed class CsvSourceTests : IDisposable
{
    private static readonly DateTimeOffset T = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-csv-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Get_ReadsTheServicesFileWithinTheRange()
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "orders.csv"), "timestamp,value\n2026-11-26 11:55:00,1\n2026-11-26 12:00:00,2\n2026-11-26 12:05:00,3\n2026-11-26 12:10:00,4\n", Ct);

        var series = await new CsvSource(new CsvSourceOptions { Directory = _directory }).GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal([2.0, 3], series.Values);
    }

    [Fact]
    public async Task Get_RowsFinerThanTheStep_FallIntoTheStepTheyStartIn_CountsSummedMeasuresAveraged()
    {
        // Per-minute rows, 5-minute steps: 12:00-12:04 and 12:05-12:09.
        var rows = string.Concat(Enumerable.Range(0, 10).Select(m => $"2026-11-26 12:{m:00}:00,{(m < 5 ? 10 : 20)}\n"));
        await File.WriteAllTextAsync(Path.Combine(_directory, "orders.requests.csv"), "timestamp,value\n" + rows, Ct);
        await File.WriteAllTextAsync(Path.Combine(_directory, "orders.latencyp90.csv"), "timestamp,value\n" + rows, Ct);
        var source = new CsvSource(new CsvSourceOptions { Directory = _directory });

        var requests = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);
        var latency = await source.GetAsync(new MetricQuery("orders", MetricKind.LatencyP90, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal(T, requests.Start);
        Assert.Equal([50.0, 100], requests.Values);
        Assert.Equal([10.0, 20], latency.Values);
        var cut = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, T.AddMinutes(2), T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);
        Assert.Equal((T.AddMinutes(5), 100.0), (cut.Start, Assert.Single(cut.Values))); // the clock's steps; 12:00-12:05, cut by the range, left out
    }

    [Fact]
    public async Task Get_MissingFile_NamesThePath()
    {
        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => new CsvSource(new CsvSourceOptions { Directory = _directory }).GetAsync(new MetricQuery("orders", MetricKind.Cpu, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct));

        Assert.Contains("orders.cpu.csv", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "RouterRecordsSource")]
    [InlineData("csv", "CsvSource")]
    [InlineData("Prometheus", "PrometheusSource")]
    public void AddShadowingMetrics_PicksTheConfiguredSource(string? kind, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Pae:Source"] = kind, ["Pae:Prometheus:BaseAddress"] = "http://p:9090/" }).Build();
        var services = new ServiceCollection().AddSingleton(Substitute.For<Shadowing.Core.State.IStateStore>()).AddShadowingMetrics(configuration);
        using var provider = services.BuildServiceProvider();

        Assert.Equal(expected, provider.GetRequiredService<IMetricsSource>().GetType().Name);
    }

    [Theory]
    [InlineData("Prometheus", "Pae:Prometheus:BaseAddress must be set")]
    [InlineData("LogAnalytics", "Pae:Azure:Workspace must be set")]
    public void AddShadowingMetrics_ASourceWithoutItsAddress_FailsTheStartNamingTheKey(string kind, string expected)
    {
        // Before, it started, and every run logged "not set" per service at Information and counted as a success.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Pae:Source"] = kind }).Build();

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new ServiceCollection().AddShadowingMetrics(configuration));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddShadowingMetrics_UnknownSource_NamesTheKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Pae:Source"] = "Graphite" }).Build();

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new ServiceCollection().AddShadowingMetrics(configuration));

        Assert.Contains("Pae:Source is 'Graphite'", error.Message, StringComparison.Ordinal);
    }
}
