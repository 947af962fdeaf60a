using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Shadowing.Core.Metrics;
using Shadowing.Metrics.Prometheus;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Metrics;

/// <summary>
/// The PAE's Prometheus source end to end: a real Prometheus (Debian's package; <c>.ci/run</c> installs it) scrapes the
/// real router's <c>/metrics</c>, and the source's default PromQL reads the router's traffic back from it.
/// </summary>
public sealed class PrometheusScrapeTests : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-prometheus-").FullName;
    private ChildProcess? _prometheus;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task DefaultQueries_ReadTheRoutersTrafficBackFromARealPrometheus()
    {
        var binary = new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists)
            ?? (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(p => Path.Combine(p, "prometheus")).FirstOrDefault(File.Exists);
        if (binary is null)
        {
            Assert.Skip("Skipped: needs a prometheus binary (Debian: apt-get install prometheus; .ci/run installs it).");
        }

        await using var backend = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [backend])]);
        var prometheus = await StartPrometheusAsync(binary, router.Address);

        // One request first, scraped before the count starts: increase() counts from a series' first sample, so without
        // it the first burst would be that sample's value and not counted.
        (await router.Client.GetAsync(new Uri("/orders/item", UriKind.Relative), Ct)).Dispose();
        await WaitForSampleAsync(prometheus, router.Address, "sum(shadowing_router_requests_total{service=\"orders\"}) >= 1");
        var started = TimeProvider.System.GetUtcNow(); // Prometheus keeps real time

        // Traffic in ten bursts, each scraped before the next, so the counters move through more than 20 s of scrapes and
        // every 10 s window inside it sees some (a window sees only the jumps between its own samples).
        var sent = 0;
        for (var burst = 0; burst < 10; burst++)
        {
            for (var i = 0; i < 30; i++)
            {
                using var response = await router.Client.GetAsync(new Uri("/orders/item", UriKind.Relative), Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                sent++;
            }

            await WaitForSampleAsync(prometheus, router.Address, $"sum(shadowing_router_requests_total{{service=\"orders\"}}) >= {sent + 1}");
        }

        using var http = new HttpClient();
        var source = new PrometheusSource(http, new PrometheusOptions { BaseAddress = prometheus });
        var to = TimeProvider.System.GetUtcNow().AddSeconds(5);
        var step = TimeSpan.FromSeconds(10); // several 2 s scrapes in each window
        var requests = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, started.AddSeconds(-30), to, step), Ct);
        var whole = TimeSpan.FromSeconds(Math.Ceiling((to - started.AddSeconds(-30)).TotalSeconds));
        var total = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, to - whole, to, whole), Ct);
        var p90 = await source.GetAsync(new MetricQuery("orders", MetricKind.LatencyP90, started.AddSeconds(-30), to, step), Ct);
        var mean = await source.GetAsync(new MetricQuery("orders", MetricKind.LatencyMean, started.AddSeconds(-30), to, step), Ct);

        // Counted over one window: steps of 10 s each drop the jump between the last scrape of one window and the first of
        // the next, which for a burst within one scrape is all of it now and then. increase() extrapolates towards the
        // window's edges, so the count is close to, not exactly, what was sent.
        Assert.InRange(Assert.Single(total.Values), sent * 0.9, sent * 1.6);
        Assert.Contains(requests.Values, v => v > 0);
        Assert.Contains(p90.Values, v => v > 0);
        Assert.Contains(mean.Values, v => v > 0);

        // No request failed, so the router has no error series for this service: while requests flow that reads as zero
        // errors (a calm the first errors are judged against), and a service with no traffic at all still has no samples.
        var errors = await source.GetAsync(new MetricQuery("orders", MetricKind.Errors, started.AddSeconds(-30), to, step), Ct);
        Assert.Contains(errors.Imputed, imputed => !imputed);
        Assert.All(errors.Values, v => Assert.Equal(0, v));
        var none = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("billing", MetricKind.Errors, started.AddSeconds(-30), to, step), Ct));
        Assert.Contains("no samples of Errors", none.Message, StringComparison.Ordinal);

        // The shipped monitoring: every dashboard query is valid PromQL to a real Prometheus and reads the router's series,
        // and the alert rules load and evaluate without error.
        foreach (var query in MonitoringFilesTests.DashboardQueries("orders"))
        {
            var answer = await http.GetStringAsync(new Uri(prometheus, "api/v1/query?query=" + Uri.EscapeDataString(query)), Ct);
            Assert.Contains("\"status\":\"success\"", answer, StringComparison.Ordinal);
        }

        await WaitForSampleAsync(prometheus, router.Address, "sum(rate(shadowing_router_decisions_total{service=\"orders\",route=\"production\"}[1m])) > 0");
        var rules = await http.GetStringAsync(new Uri(prometheus, "api/v1/rules"), Ct);
        Assert.Equal(9, Regex.Count(rules, "\"type\":\"alerting\""));
        Assert.DoesNotContain("\"health\":\"err\"", rules, StringComparison.Ordinal);

        // The cAdvisor defaults for CPU, memory and I/O are valid PromQL to a real Prometheus (no exporter here: no samples, not a 400).
        foreach (var kind in new[] { MetricKind.Cpu, MetricKind.Memory, MetricKind.Io })
        {
            var missing = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", kind, started.AddSeconds(-30), to, step), Ct));
            Assert.Contains($"no samples of {kind}", missing.Message, StringComparison.Ordinal);
        }
    }

    private async Task<Uri> StartPrometheusAsync(string binary, Uri router)
    {
        var port = FreePort();
        var config = Path.Combine(_directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 2s
              scrape_timeout: 2s
            rule_files:
              - '{MonitoringFilesTests.Rules}'
            scrape_configs:
              - job_name: shadowing-router
                static_configs:
                  - targets: ['{router.Authority}']
            """, Ct);
        _prometheus = ChildProcess.Start(binary, [$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(_directory, "data")}", $"--web.listen-address=127.0.0.1:{port}"], _directory);
        var address = new Uri($"http://127.0.0.1:{port}/");
        using var http = new HttpClient();
        await Eventually.WaitUntilAsync(
            async () =>
            {
                try
                {
                    using var ready = await http.GetAsync(new Uri(address, "-/ready"), Ct);
                    return ready.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            "Prometheus is ready",
            TimeSpan.FromSeconds(60),
            Ct);
        return address;
    }

    private static async Task WaitForSampleAsync(Uri prometheus, Uri router, string promql)
    {
        using var http = new HttpClient();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(180); // a scrape under CI load can take seconds
        while (true)
        {
            var body = await http.GetStringAsync(new Uri(prometheus, "api/v1/query?query=" + Uri.EscapeDataString(promql)), Ct);
            if (body.Contains("\"value\"", StringComparison.Ordinal))
            {
                return;
            }

            if (TimeProvider.System.GetUtcNow() > deadline)
            {
                // What Prometheus says about the scrape (health, last error) is what tells a failure here apart.
                var targets = await http.GetStringAsync(new Uri(prometheus, "api/v1/targets"), Ct);
                var series = await http.GetStringAsync(new Uri(prometheus, "api/v1/query?query=" + Uri.EscapeDataString("{__name__=~\"shadowing_router_requests.*\"}")), Ct);
                var metrics = await http.GetStringAsync(new Uri(router, "metrics"), Ct);
                Assert.Fail($"No sample of {promql} within 180 s; Prometheus's targets: {targets}; series: {series}; router: {metrics.Split('\n').Length} lines, types: {string.Join(", ", metrics.Split('\n').Where(l => l.StartsWith("# TYPE", StringComparison.Ordinal)).GroupBy(l => l).Select(g => $"{g.Key[7..]} x{g.Count()}"))}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, Ct);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
