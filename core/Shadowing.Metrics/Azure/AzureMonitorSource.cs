using System.Globalization;
using System.Text.Json;
using System.Xml;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Shadowing.Core.Metrics;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Metrics.Azure;

/// <summary>One Azure Monitor metric of one resource.</summary>
public sealed class AzureMetric
{
    /// <summary>Resource id, for example <c>/subscriptions/…/resourceGroups/…/providers/Microsoft.App/containerApps/orders</c>.</summary>
    public string ResourceId { get; set; } = string.Empty;

    /// <summary>Metric name, for example <c>Requests</c> or <c>CpuPercentage</c>.</summary>
    public string Metric { get; set; } = string.Empty;

    /// <summary>Aggregation to read: Total, Average, Maximum, Minimum or Count. Default Total.</summary>
    public string Aggregation { get; set; } = "Total";
}

/// <summary>Settings of the Azure sources (section <c>Pae:Azure</c>).</summary>
public sealed class AzureMonitorOptions
{
    /// <summary>Azure Resource Manager endpoint. Default the public cloud.</summary>
    public Uri ResourceManager { get; set; } = new("https://management.azure.com");

    /// <summary>Metrics per service and kind (<c>Pae:Azure:Metrics:{service}:{kind}</c>).</summary>
    public Dictionary<string, Dictionary<MetricKind, AzureMetric>> Metrics { get; set; } = [];

    /// <summary>Log Analytics workspace id (GUID), for <see cref="LogAnalyticsSource"/>.</summary>
    public string? Workspace { get; set; }

    /// <summary>Log Analytics endpoint. Default the public cloud.</summary>
    public Uri LogAnalytics { get; set; } = new("https://api.loganalytics.io");

    /// <summary>
    /// KQL per kind for <see cref="LogAnalyticsSource"/>; <c>{service}</c> and <c>{step}</c> (a KQL timespan such as
    /// <c>5m</c>) are replaced. The query must return a datetime column and a numeric column.
    /// </summary>
    public Dictionary<MetricKind, string> Queries { get; set; } = [];
}

/// <summary>Client options for the Azure Monitor and Log Analytics REST calls (retries, transport).</summary>
public sealed class AzureMetricsClientOptions : ClientOptions;

/// <summary>
/// Reads Azure Monitor platform metrics over the REST API
/// (<c>GET {resourceId}/providers/Microsoft.Insights/metrics?api-version=2018-01-01</c>) on an Azure.Core pipeline
/// authenticated with an Azure.Identity credential (scope <c>https://management.azure.com/.default</c>).
/// Azure.Monitor.Query would do this too, but is not available to this build.
/// </summary>
public sealed class AzureMonitorSource : IMetricsSource
{
    private readonly AzureMonitorOptions _options;
    private readonly HttpPipeline _pipeline;

    /// <summary>Creates the source.</summary>
    public AzureMonitorSource(AzureMonitorOptions options, TokenCredential credential, AzureMetricsClientOptions? clientOptions = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        ArgumentNullException.ThrowIfNull(credential);
        _pipeline = HttpPipelineBuilder.Build(clientOptions ?? new AzureMetricsClientOptions(), new BearerTokenAuthenticationPolicy(credential, new Uri(options.ResourceManager, "/.default").ToString()));
    }

    /// <inheritdoc />
    public async Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (!_options.Metrics.TryGetValue(query.Service, out var kinds) || !kinds.TryGetValue(query.Kind, out var metric))
        {
            throw new MetricsUnavailableException($"No Azure Monitor metric is configured for {query.Kind} of '{query.Service}' (Pae:Azure:Metrics:{query.Service}:{query.Kind}).") { NoData = true };
        }

        var uri = new Uri(
            _options.ResourceManager,
            $"{metric.ResourceId.TrimEnd('/')}/providers/Microsoft.Insights/metrics"
            + "?api-version=2018-01-01"
            + $"&metricnames={Uri.EscapeDataString(metric.Metric)}"
            + $"&timespan={Uri.EscapeDataString($"{query.From.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}/{query.To.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}")}"
            + $"&interval={XmlConvert.ToString(query.Step)}"
            + $"&aggregation={Uri.EscapeDataString(metric.Aggregation)}");
        using var message = _pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Get;
        message.Request.Uri.Reset(uri);
        using var document = await AzureRest.SendAsync(_pipeline, message, $"Azure Monitor metric {metric.Metric} of {metric.ResourceId}", cancellationToken).ConfigureAwait(false);

        var field = char.ToLowerInvariant(metric.Aggregation[0]) + metric.Aggregation[1..];
        var points = new List<TimeSeriesPoint>();
        try
        {
            foreach (var value in document.RootElement.GetProperty("value").EnumerateArray())
            {
                foreach (var series in value.GetProperty("timeseries").EnumerateArray())
                {
                    foreach (var datum in series.GetProperty("data").EnumerateArray())
                    {
                        if (datum.TryGetProperty(field, out var number) && number.ValueKind == JsonValueKind.Number)
                        {
                            var time = DateTimeOffset.Parse(datum.GetProperty("timeStamp").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
                            points.Add(new TimeSeriesPoint(time, Math.Max(0, number.GetDouble())));
                        }
                    }
                }
            }
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new MetricsUnavailableException($"Azure Monitor's answer for {metric.Metric} is not a metrics response: {ex.Message}", ex);
        }

        return AzureRest.ToSeries(points, query, $"Azure Monitor metric {metric.Metric} ({metric.Aggregation})");
    }
}

/// <summary>Sending and reading Azure REST calls the same way for both Azure sources.</summary>
internal static class AzureRest
{
    public static async Task<JsonDocument> SendAsync(HttpPipeline pipeline, HttpMessage message, string what, CancellationToken cancellationToken)
    {
        try
        {
            await pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex)
        {
            throw new MetricsUnavailableException($"{what} cannot be read: {ex.Message}", ex);
        }
        catch (global::Azure.Identity.AuthenticationFailedException ex)
        {
            throw new MetricsUnavailableException($"{what}: authentication failed: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is AggregateException or HttpRequestException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Azure.Core's retries, once used up on network errors or timeouts, throw an AggregateException of them
            // ("Retry failed after 4 tries"): the source is down, as for a failed request, not a bug of the PAE's.
            throw new MetricsUnavailableException($"{what} cannot be read: {ex.Message}", ex);
        }

        var response = message.Response;
        if (response.IsError)
        {
            throw new MetricsUnavailableException($"{what}: Azure answered {response.Status}: {response.Content}");
        }

        try
        {
            return JsonDocument.Parse(response.Content.ToMemory());
        }
        catch (JsonException ex)
        {
            throw new MetricsUnavailableException($"{what}: the answer is not JSON: {ex.Message}", ex);
        }
    }

    public static RegularSeries ToSeries(List<TimeSeriesPoint> points, MetricQuery query, string what)
    {
        if (points.Count == 0)
        {
            throw new MetricsUnavailableException($"{what} has no data for '{query.Service}' between {query.From:u} and {query.To:u}.") { NoData = true };
        }

        var merged = points.GroupBy(p => p.Time).Select(g => new TimeSeriesPoint(g.Key, g.Sum(p => p.Value))).OrderBy(p => p.Time).ToList();
        return Resampler.Resample(merged, query.Step, out _);
    }
}
