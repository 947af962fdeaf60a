using System.Globalization;
using System.Text.Json;
using Shadowing.Core.Metrics;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Metrics.Prometheus;

/// <summary>Settings of <see cref="PrometheusSource"/> (section <c>Pae:Prometheus</c>).</summary>
public sealed class PrometheusOptions
{
    /// <summary>Prometheus server, for example <c>http://prometheus:9090</c>.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>
    /// PromQL per metric kind; <c>{service}</c> and <c>{step}</c> (like <c>5m</c>) are replaced. The defaults read the
    /// router's own metrics for demand, errors and latency, and cAdvisor's container metrics (what the kubelet exports
    /// on Kubernetes) for CPU (percent of one core, summed over the service's containers), memory (working set as a
    /// percent of the limit) and I/O, with the container named as the service.
    /// </summary>
    public Dictionary<MetricKind, string> Queries { get; set; } = new()
    {
        [MetricKind.Requests] = "sum(increase(shadowing_router_requests_total{service=\"{service}\"}[{step}]))",
        // The router creates a service's error series at its first error (and again after each restart): until then, 0 while
        // requests flow, so failure risk has a baseline of calm to judge the first errors against, not days of nothing.
        [MetricKind.Errors] = "sum(increase(shadowing_router_errors_total{service=\"{service}\"}[{step}])) or 0 * sum(increase(shadowing_router_requests_total{service=\"{service}\"}[{step}]))",
        [MetricKind.LatencyMean] = "sum(rate(shadowing_router_request_duration_milliseconds_sum{service=\"{service}\"}[{step}])) / sum(rate(shadowing_router_request_duration_milliseconds_count{service=\"{service}\"}[{step}]))",
        [MetricKind.LatencyP90] = "histogram_quantile(0.9, sum by (le) (rate(shadowing_router_request_duration_milliseconds_bucket{service=\"{service}\"}[{step}])))",
        [MetricKind.Cpu] = "100 * sum(rate(container_cpu_usage_seconds_total{container=\"{service}\"}[{step}]))",
        [MetricKind.Memory] = "100 * sum(container_memory_working_set_bytes{container=\"{service}\"}) / sum(container_spec_memory_limit_bytes{container=\"{service}\"} > 0)",
        [MetricKind.Io] = "sum(rate(container_fs_reads_bytes_total{container=\"{service}\"}[{step}])) + sum(rate(container_fs_writes_bytes_total{container=\"{service}\"}[{step}]))",
    };
}

/// <summary>
/// Reads metrics from Prometheus' range query API (<c>GET /api/v1/query_range</c>). A query returning several
/// series is summed per timestamp; NaN samples (for example a ratio of zero rates) are left out and become gaps.
/// </summary>
public sealed class PrometheusSource(HttpClient http, PrometheusOptions options) : IMetricsSource
{
    /// <summary>Steps per range query: Prometheus refuses more than 11,000 points per series in one query.</summary>
    internal const int MaxStepsPerQuery = 10_000;

    /// <inheritdoc />
    public async Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var baseAddress = options.BaseAddress ?? throw new MetricsUnavailableException("Pae:Prometheus:BaseAddress is not set.");
        if (!options.Queries.TryGetValue(query.Kind, out var template))
        {
            throw new MetricsUnavailableException($"No PromQL is configured for {query.Kind} (Pae:Prometheus:Queries:{query.Kind}).") { NoData = true };
        }

        var promql = template.Replace("{service}", query.Service, StringComparison.Ordinal).Replace("{step}", Duration(query.Step), StringComparison.Ordinal);

        // The value Prometheus evaluates at t covers the window (t - step, t], and a range query includes its end: the
        // step starting at s is the sample at s + step. Steps are labelled by their start, as MetricQuery's exclusive To
        // and the other sources do.
        var sums = new SortedDictionary<long, double>();
        var stepSeconds = (long)query.Step.TotalSeconds;
        for (var start = query.From + query.Step; start <= query.To; start += query.Step * MaxStepsPerQuery)
        {
            var last = start + (query.Step * (MaxStepsPerQuery - 1));
            var end = last < query.To ? last : query.To;
            var body = await QueryRangeAsync(baseAddress, promql, start, end, query, cancellationToken).ConfigureAwait(false);
            Parse(body, query, stepSeconds, sums);
        }

        if (sums.Count == 0)
        {
            throw new MetricsUnavailableException($"Prometheus has no samples of {query.Kind} for '{query.Service}' between {query.From:u} and {query.To:u}.") { NoData = true };
        }

        var points = sums.Select(s => new TimeSeriesPoint(DateTimeOffset.FromUnixTimeSeconds(s.Key), Math.Max(0, s.Value))).ToList();
        return Resampler.Resample(points, query.Step, out _);
    }

    private async Task<string> QueryRangeAsync(Uri baseAddress, string promql, DateTimeOffset start, DateTimeOffset end, MetricQuery query, CancellationToken cancellationToken)
    {
        // A base with a path (http://host/prometheus) keeps it: relative to a base without a trailing slash, the query URL
        // would replace its last segment.
        var root = baseAddress.AbsolutePath.EndsWith('/') ? baseAddress : new Uri(baseAddress.GetLeftPart(UriPartial.Path) + "/");
        var url = new Uri(root, "api/v1/query_range"
            + $"?query={Uri.EscapeDataString(promql)}"
            + $"&start={Seconds(start)}&end={Seconds(end)}&step={query.Step.TotalSeconds.ToString(CultureInfo.InvariantCulture)}");
        try
        {
            using var response = await http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? body
                : throw new MetricsUnavailableException($"Prometheus answered {(int)response.StatusCode} to {query.Kind} of '{query.Service}': {Error(body)}");
        }
        catch (HttpRequestException ex)
        {
            throw new MetricsUnavailableException($"Prometheus at {baseAddress} cannot be reached: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MetricsUnavailableException($"Prometheus at {baseAddress} did not answer {query.Kind} of '{query.Service}' within {http.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.", ex);
        }
    }

    /// <summary>Adds each finite sample of a range-query answer to <paramref name="sums"/>, at the start of the step it covers.</summary>
    private static void Parse(string body, MetricQuery query, long stepSeconds, SortedDictionary<long, double> sums)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var data = document.RootElement.GetProperty("data");
            if (data.GetProperty("resultType").GetString() != "matrix")
            {
                throw new MetricsUnavailableException($"Prometheus returned a {data.GetProperty("resultType").GetString()} instead of a matrix for {query.Kind} of '{query.Service}'.");
            }

            foreach (var series in data.GetProperty("result").EnumerateArray())
            {
                foreach (var sample in series.GetProperty("values").EnumerateArray())
                {
                    var time = (long)Math.Round(sample[0].GetDouble()) - stepSeconds;
                    // Prometheus writes infinities as +Inf and -Inf, which .NET does not read: skipped like NaN.
                    var text = sample[1].GetString()!;
                    var value = text is "+Inf" or "-Inf" or "Inf" ? double.NaN : double.Parse(text, CultureInfo.InvariantCulture);
                    if (double.IsFinite(value))
                    {
                        sums[time] = sums.GetValueOrDefault(time) + value;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new MetricsUnavailableException($"Prometheus' answer for {query.Kind} of '{query.Service}' is not a range-query result: {ex.Message}", ex);
        }
    }

    private static string Seconds(DateTimeOffset time) => (time.ToUnixTimeMilliseconds() / 1000.0).ToString("F3", CultureInfo.InvariantCulture);

    /// <summary>A Prometheus duration for a step: whole minutes as <c>5m</c>, else seconds.</summary>
    private static string Duration(TimeSpan step) => step.TotalSeconds % 60 == 0
        ? $"{step.TotalMinutes.ToString(CultureInfo.InvariantCulture)}m"
        : $"{step.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s";

    private static string Error(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("error", out var error) ? error.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body.Length > 200 ? body[..200] : body;
        }
    }
}
