using System.Net;
using System.Text.Json;
using System.Web;
using Azure.Core;
using Azure.Core.Pipeline;
using Shadowing.Core.Metrics;
using Shadowing.Metrics.Azure;

namespace Shadowing.Metrics.Tests.Azure;

/// <summary>
/// Contract of the Azure Monitor metrics and Log Analytics clients against their documented REST answers, with
/// the Azure.Core pipeline's transport stubbed (the bearer policy refuses plain http, so the fake is the transport).
/// </summary>
public sealed class AzureSourcesTests
{
    private static readonly DateTimeOffset From = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AzureMonitor_Get_SendsDocumentedQueryWithBearerToken_ReadsTheAggregation()
    {
        var handler = new StubHandler((_, _) => (HttpStatusCode.OK, """
            {"cost":0,"timespan":"2026-11-26T12:00:00Z/2026-11-26T12:15:00Z","interval":"PT5M","value":[{"id":"x","type":"Microsoft.Insights/metrics","name":{"value":"Requests"},"unit":"Count","timeseries":[{"metadatavalues":[],"data":[
              {"timeStamp":"2026-11-26T12:00:00Z","total":120},{"timeStamp":"2026-11-26T12:05:00Z","total":150},{"timeStamp":"2026-11-26T12:10:00Z"}]}]}]}
            """));
        var credential = new StubCredential();
        var options = new AzureMonitorOptions
        {
            Metrics = { ["orders"] = new() { [MetricKind.Requests] = new AzureMetric { ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/orders", Metric = "Requests" } } },
        };
        var source = new AzureMonitorSource(options, credential, Client(handler));

        var series = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddMinutes(15), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal([120.0, 150], series.Values);
        var (request, _) = handler.Requests.Single();
        Assert.Equal("Bearer token-123", request.Headers.Authorization!.ToString());
        Assert.Equal(["https://management.azure.com/.default"], credential.Scopes.Single());
        Assert.Equal("/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/orders/providers/Microsoft.Insights/metrics", request.RequestUri!.AbsolutePath);
        var query = HttpUtility.ParseQueryString(request.RequestUri.Query);
        Assert.Equal("2018-01-01", query["api-version"]);
        Assert.Equal("Requests", query["metricnames"]);
        Assert.Equal("2026-11-26T12:00:00Z/2026-11-26T12:15:00Z", query["timespan"]);
        Assert.Equal("PT5M", query["interval"]);
        Assert.Equal("Total", query["aggregation"]);
    }

    [Fact]
    public async Task AzureMonitor_ErrorStatus_ReportsIt()
    {
        var handler = new StubHandler((_, _) => (HttpStatusCode.Forbidden, """{"error":{"code":"AuthorizationFailed","message":"no access"}}"""));
        var options = new AzureMonitorOptions { Metrics = { ["orders"] = new() { [MetricKind.Cpu] = new AzureMetric { ResourceId = "/r", Metric = "CpuPercentage", Aggregation = "Average" } } } };
        var source = new AzureMonitorSource(options, new StubCredential(), Client(handler));

        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Cpu, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));

        Assert.Contains("403", error.Message, StringComparison.Ordinal);
        Assert.Contains("CpuPercentage", error.Message, StringComparison.Ordinal);
        Assert.False(error.NoData); // a failure the PAE warns of
    }

    [Fact]
    public async Task AzureMonitor_NetworkErrorsThroughEveryRetry_AreTheSourceUnavailable()
    {
        // Azure.Core throws an AggregateException once its retries are used up on transport errors, which the PAE took for
        // a bug of its own: the whole service failed, for an optional CPU metric.
        var handler = new StubHandler((_, _) => throw new HttpRequestException("Connection refused (management.azure.com:443)"));
        var options = new AzureMonitorOptions { Metrics = { ["orders"] = new() { [MetricKind.Cpu] = new AzureMetric { ResourceId = "/r", Metric = "CpuPercentage", Aggregation = "Average" } } } };
        var client = Client(handler);
        (client.Retry.MaxRetries, client.Retry.Delay, client.Retry.Mode) = (2, TimeSpan.FromMilliseconds(1), RetryMode.Fixed);
        var source = new AzureMonitorSource(options, new StubCredential(), client);

        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Cpu, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));

        Assert.Equal(3, handler.Requests.Count);
        Assert.Contains("cannot be read", error.Message, StringComparison.Ordinal);
        Assert.False(error.NoData);
    }

    [Fact]
    public async Task AzureMonitor_NotConfigured_NamesTheSetting()
    {
        var source = new AzureMonitorSource(new AzureMonitorOptions(), new StubCredential());

        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));

        Assert.Contains("Pae:Azure:Metrics:orders:Requests", error.Message, StringComparison.Ordinal);
        Assert.True(error.NoData); // merely absent: the PAE does not warn of an optional metric left out
        Assert.True((await Assert.ThrowsAsync<MetricsUnavailableException>(() => new LogAnalyticsSource(new AzureMonitorOptions { Workspace = "w" }, new StubCredential())
            .GetAsync(new MetricQuery("orders", MetricKind.Cpu, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct))).NoData);
    }

    [Fact]
    public async Task LogAnalytics_Get_PostsKqlAndTimespan_ReadsDatetimeAndNumberColumns()
    {
        var handler = new StubHandler((_, _) => (HttpStatusCode.OK, """
            {"tables":[{"name":"PrimaryResult","columns":[{"name":"service","type":"string"},{"name":"TimeGenerated","type":"datetime"},{"name":"count_","type":"long"}],
              "rows":[["orders","2026-11-26T12:00:00Z",40],["orders","2026-11-26T12:05:00Z",44],["orders","2026-11-26T12:10:00Z",null]]}]}
            """));
        var credential = new StubCredential();
        var options = new AzureMonitorOptions
        {
            Workspace = "00000000-0000-0000-0000-000000000001",
            Queries = { [MetricKind.Requests] = "AppRequests | where AppRoleName == '{service}' | summarize count() by service=AppRoleName, bin(TimeGenerated, {step})" },
        };
        var source = new LogAnalyticsSource(options, credential, Client(handler));

        var series = await source.GetAsync(new MetricQuery("orders", MetricKind.Requests, From, From.AddMinutes(15), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal([40.0, 44], series.Values);
        var (request, body) = handler.Requests.Single();
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("https://api.loganalytics.io/v1/workspaces/00000000-0000-0000-0000-000000000001/query", request.RequestUri!.ToString());
        Assert.Equal(["https://api.loganalytics.io/.default"], credential.Scopes.Single());
        using var document = JsonDocument.Parse(body!);
        Assert.Equal("AppRequests | where AppRoleName == 'orders' | summarize count() by service=AppRoleName, bin(TimeGenerated, 5m)", document.RootElement.GetProperty("query").GetString());
        Assert.Equal("2026-11-26T12:00:00Z/2026-11-26T12:15:00Z", document.RootElement.GetProperty("timespan").GetString());
    }

    [Fact]
    public async Task LogAnalytics_ResultWithoutDatetime_SaysWhatItGot()
    {
        var handler = new StubHandler((_, _) => (HttpStatusCode.OK, """{"tables":[{"name":"PrimaryResult","columns":[{"name":"n","type":"long"}],"rows":[[1]]}]}"""));
        var options = new AzureMonitorOptions { Workspace = "w", Queries = { [MetricKind.Errors] = "x" } };
        var source = new LogAnalyticsSource(options, new StubCredential(), Client(handler));

        var error = await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Errors, From, From.AddHours(1), TimeSpan.FromMinutes(5)), Ct));

        Assert.Contains("must return a datetime and a numeric column", error.Message, StringComparison.Ordinal);
    }

    private static AzureMetricsClientOptions Client(StubHandler handler)
    {
        var options = new AzureMetricsClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        options.Retry.MaxRetries = 0;
        return options;
    }

    private sealed class StubCredential : TokenCredential
    {
        public List<string[]> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Scopes.Add(requestContext.Scopes);
            return new AccessToken("token-123", new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
