using System.Net;
using System.Web;
using Shadowing.Core.Metrics;
using Shadowing.Metrics.Prometheus;

namespace Shadowing.Metrics.Tests.Prometheus;

/// <summary>Contract of the Prometheus client against the documented <c>/api/v1/query_range</c> answers.</summary>
public sealed class PrometheusSourceTests
{
    private static readonly DateTimeOffset From = DateTimeOffset.FromUnixTimeSeconds(1_764_158_400); // 2025-11-26 12:00 UTC
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Get_Matrix_SumsSeriesPerTimestamp_EachSampleLabelledByTheStepItCovers()
    {
        // The value at t covers (t - 5m, t]: the step 12:00-12:05 is the sample at 12:05, and the range includes its end.
        var t = From.ToUnixTimeSeconds();
        var json = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
            + $"{{\"metric\":{{\"endpoint\":\"p1\"}},\"values\":[[{t + 300},\"10\"],[{t + 600},\"12\"],[{t + 900},\"NaN\"]]}},"
            + $"{{\"metric\":{{\"endpoint\":\"p2\"}},\"values\":[[{t + 300},\"5\"],[{t + 600},\"6\"],[{t + 900},\"+Inf\"],[{t + 1200},\"9\"]]}},"
            + $"{{\"metric\":{{\"endpoint\":\"p3\"}},\"values\":[[{t + 900},\"-Inf\"]]}}"
            + "]}}";
        var handler = new StubHandler((_, _) => (HttpStatusCode.OK, json));
        var source = new PrometheusSource(new HttpClient(handler), new PrometheusOptions { BaseAddress = new Uri("http://prometheus:9090/") });

        var series = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddMinutes(20), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal(From, series.Start); // 12:00, the first step's start: as the router's records and Azure Monitor label it
        Assert.Equal([15.0, 18, 13.5, 9], series.Values); // the NaN and infinite samples (as Prometheus writes them) are a gap, interpolated between 18 and 9
        Assert.Equal([false, false, true, false], series.Imputed);
        var uri = handler.Requests.Single().Request.RequestUri!;
        Assert.Equal("/api/v1/query_range", uri.AbsolutePath);
        var query = HttpUtility.ParseQueryString(uri.Query);
        Assert.Equal("sum(increase(shadowing_router_requests_total{service=\"orders\"}[5m]))", query["query"]);
        Assert.Equal($"{From.AddMinutes(5).ToUnixTimeSeconds()}.000", query["start"]);
        Assert.Equal($"{From.AddMinutes(20).ToUnixTimeSeconds()}.000", query["end"]);
        Assert.Equal("300", query["step"]);
    }

    [Theory]
    [InlineData("http://gateway/prometheus")]
    [InlineData("http://gateway/prometheus/")]
    public async Task Get_ABaseAddressWithAPath_KeepsIt_WithOrWithoutATrailingSlash(string baseAddress)
    {
        var t = From.ToUnixTimeSeconds();
        var handler = new StubHandler((_, _) => (HttpStatusCode.OK, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[" + (t + 300) + ",\"1\"]]}]}}"));

        await new PrometheusSource(new HttpClient(handler), new PrometheusOptions { BaseAddress = new Uri(baseAddress) }).GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddMinutes(5), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal("/prometheus/api/v1/query_range", handler.Requests.Single().Request.RequestUri!.AbsolutePath);
    }

    [Fact]
    public async Task Get_MoreStepsThanOneQueryMayHave_IsReadInSeveralQueries()
    {
        // 28 days at one minute is 40,320 steps; Prometheus refuses a query of more than 11,000 points.
        var handler = new StubHandler((request, _) =>
        {
            var q = HttpUtility.ParseQueryString(request.RequestUri!.Query);
            var (start, end) = ((long)double.Parse(q["start"]!, System.Globalization.CultureInfo.InvariantCulture), (long)double.Parse(q["end"]!, System.Globalization.CultureInfo.InvariantCulture));
            var values = string.Join(",", Enumerable.Range(0, (int)((end - start) / 60) + 1).Select(i => $"[{start + (i * 60)},\"1\"]"));
            return (HttpStatusCode.OK, $"{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":[{{\"metric\":{{}},\"values\":[{values}]}}]}}}}");
        });
        var source = new PrometheusSource(new HttpClient(handler), new PrometheusOptions { BaseAddress = new Uri("http://prometheus:9090/") });

        var series = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddDays(28), TimeSpan.FromMinutes(1)), Ct);

        Assert.Equal((From, 40_320), (series.Start, series.Count));
        Assert.DoesNotContain(true, series.Imputed); // no step lost or doubled between queries
        Assert.Equal(5, handler.Requests.Count);
        Assert.All(handler.Requests, r =>
        {
            var q = HttpUtility.ParseQueryString(r.Request.RequestUri!.Query);
            var points = ((double.Parse(q["end"]!, System.Globalization.CultureInfo.InvariantCulture) - double.Parse(q["start"]!, System.Globalization.CultureInfo.InvariantCulture)) / 60) + 1;
            Assert.True(points <= 11_000, $"{points} points in one query");
        });
    }

    [Fact]
    public async Task Get_PrometheusDoesNotAnswerInTime_IsUnavailable_NamingTheTimeout()
    {
        var handler = new StubHandler((_, _) => throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.", new TimeoutException()));
        var source = new PrometheusSource(new HttpClient(handler), new PrometheusOptions { BaseAddress = new Uri("http://prometheus:9090/") });

        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));

        Assert.Contains("did not answer Requests of 'orders' within 100 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ErrorAnswer_ReportsPrometheusError()
    {
        var handler = new StubHandler((_, _) => (HttpStatusCode.BadRequest, """{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"""));
        var source = new PrometheusSource(new HttpClient(handler), new PrometheusOptions { BaseAddress = new Uri("http://prometheus:9090/") });

        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));

        Assert.Contains("400", error.Message, StringComparison.Ordinal);
        Assert.Contains("parse error at char 5", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_VectorOrEmpty_IsRefused()
    {
        var vector = new PrometheusSource(new HttpClient(new StubHandler((_, _) => (HttpStatusCode.OK, """{"status":"success","data":{"resultType":"vector","result":[]}}"""))), new PrometheusOptions { BaseAddress = new Uri("http://p/") });
        var empty = new PrometheusSource(new HttpClient(new StubHandler((_, _) => (HttpStatusCode.OK, """{"status":"success","data":{"resultType":"matrix","result":[]}}"""))), new PrometheusOptions { BaseAddress = new Uri("http://p/") });
        var query = new MetricQuery("orders", MetricKind.Errors, From, From.AddHours(1), TimeSpan.FromMinutes(5));

        var notAMatrix = await Assert.ThrowsAsync<MetricsUnavailableException>(() => vector.GetAsync(query, Ct));
        var noSamples = await Assert.ThrowsAsync<MetricsUnavailableException>(() => empty.GetAsync(query, Ct));
        Assert.Equal(("vector", false), (notAMatrix.Message.Contains("vector", StringComparison.Ordinal) ? "vector" : notAMatrix.Message, notAMatrix.NoData)); // a query to fix
        Assert.Equal(("no samples", true), (noSamples.Message.Contains("no samples", StringComparison.Ordinal) ? "no samples" : noSamples.Message, noSamples.NoData)); // nothing happened: the PAE does not warn
    }

    [Fact]
    public async Task Get_NoBaseAddressOrQuery_NamesTheSetting()
    {
        var unset = new PrometheusSource(new HttpClient(), new PrometheusOptions());
        var noCpu = new PrometheusSource(new HttpClient(), new PrometheusOptions { BaseAddress = new Uri("http://p/"), Queries = [] });

        Assert.Contains("Pae:Prometheus:BaseAddress", (await Assert.ThrowsAsync<MetricsUnavailableException>(() => unset.GetAsync(new MetricQuery("o", MetricKind.Requests, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct))).Message, StringComparison.Ordinal);
        var cpu = await Assert.ThrowsAsync<MetricsUnavailableException>(() => noCpu.GetAsync(new MetricQuery("o", MetricKind.Cpu, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));
        Assert.Contains("Pae:Prometheus:Queries:Cpu", cpu.Message, StringComparison.Ordinal);
        Assert.True(cpu.NoData); // an optional metric left out
    }
}
