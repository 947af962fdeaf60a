using System.Globalization;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Shadowing.Core.Metrics;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Metrics.Azure;

/// <summary>
/// Reads a metric with a KQL query over the Log Analytics REST API
/// (<c>POST /v1/workspaces/{workspace}/query</c> with <c>{"query","timespan"}</c>) on an Azure.Core pipeline
/// authenticated with an Azure.Identity credential (scope <c>https://api.loganalytics.io/.default</c>). The first
/// datetime column is the time and the first numeric column the value.
/// </summary>
public sealed class LogAnalyticsSource : IMetricsSource
{
    private readonly AzureMonitorOptions _options;
    private readonly HttpPipeline _pipeline;

    /// <summary>Creates the source.</summary>
    public LogAnalyticsSource(AzureMonitorOptions options, TokenCredential credential, AzureMetricsClientOptions? clientOptions = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        ArgumentNullException.ThrowIfNull(credential);
        _pipeline = HttpPipelineBuilder.Build(clientOptions ?? new AzureMetricsClientOptions(), new BearerTokenAuthenticationPolicy(credential, new Uri(options.LogAnalytics, "/.default").ToString()));
    }

    /// <inheritdoc />
    public async Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var workspace = _options.Workspace ?? throw new MetricsUnavailableException("Pae:Azure:Workspace is not set.");
        if (!_options.Queries.TryGetValue(query.Kind, out var template))
        {
            throw new MetricsUnavailableException($"No KQL is configured for {query.Kind} (Pae:Azure:Queries:{query.Kind}).") { NoData = true };
        }

        var kql = template
            .Replace("{service}", query.Service, StringComparison.Ordinal)
            .Replace("{step}", $"{query.Step.TotalMinutes.ToString(CultureInfo.InvariantCulture)}m", StringComparison.Ordinal);
        using var message = _pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Post;
        message.Request.Uri.Reset(new Uri(_options.LogAnalytics, $"/v1/workspaces/{Uri.EscapeDataString(workspace)}/query"));
        message.Request.Headers.Add("Content-Type", "application/json");
        message.Request.Content = RequestContent.Create(JsonSerializer.SerializeToUtf8Bytes(new
        {
            query = kql,
            timespan = $"{query.From.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}/{query.To.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}",
        }));
        using var document = await AzureRest.SendAsync(_pipeline, message, $"Log Analytics query for {query.Kind} of '{query.Service}'", cancellationToken).ConfigureAwait(false);

        var points = new List<TimeSeriesPoint>();
        try
        {
            var table = document.RootElement.GetProperty("tables")[0];
            var columns = table.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("type").GetString()).ToArray();
            var timeColumn = Array.IndexOf(columns, "datetime");
            var valueColumn = Array.FindIndex(columns, t => t is "real" or "long" or "int" or "decimal");
            if (timeColumn < 0 || valueColumn < 0)
            {
                throw new MetricsUnavailableException($"The KQL for {query.Kind} must return a datetime and a numeric column; it returned {string.Join(", ", columns)}.");
            }

            foreach (var row in table.GetProperty("rows").EnumerateArray())
            {
                if (row[valueColumn].ValueKind == JsonValueKind.Number)
                {
                    var time = DateTimeOffset.Parse(row[timeColumn].GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
                    points.Add(new TimeSeriesPoint(time, Math.Max(0, row[valueColumn].GetDouble())));
                }
            }
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException or FormatException)
        {
            throw new MetricsUnavailableException($"Log Analytics' answer for {query.Kind} is not a query result: {ex.Message}", ex);
        }

        return AzureRest.ToSeries(points, query, $"Log Analytics query for {query.Kind}");
    }
}
