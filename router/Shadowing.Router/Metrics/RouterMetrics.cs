using System.Diagnostics;
using System.Diagnostics.Metrics;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Metrics;

/// <summary>
/// The router's OpenTelemetry instruments (meter <c>Shadowing.Router</c>), exported on <c>/metrics</c> in
/// Prometheus format: per-endpoint requests, errors, latency and in-flight; routing decisions by reason;
/// endpoint availability and routing-table staleness.
/// </summary>
internal sealed class RouterMetrics
{
    public const string MeterName = "Shadowing.Router";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _latency;
    private readonly UpDownCounter<long> _inFlight;
    private readonly Counter<long> _decisions;

    public RouterMetrics(IMeterFactory meterFactory, EndpointRegistry registry, RoutingTableCache cache, TimeProvider time)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("shadowing.router.requests", "{request}", "Forwarding attempts per endpoint, by response status class.");
        _errors = meter.CreateCounter<long>("shadowing.router.errors", "{request}", "Failed forwarding attempts per endpoint: 5xx, connect failure or timeout.");
        _latency = meter.CreateHistogram(
            "shadowing.router.request.duration",
            "ms",
            "Time from forwarding a request to the end of the endpoint's response.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyHistogram.BoundariesMs });
        _inFlight = meter.CreateUpDownCounter<long>("shadowing.router.inflight", "{request}", "Requests being forwarded per endpoint.");
        _decisions = meter.CreateCounter<long>("shadowing.router.decisions", "{decision}", "Routing decisions by route and reason.");
        meter.CreateObservableGauge(
            "shadowing.router.endpoint.available",
            () => registry.All.Select(r => new Measurement<int>(
                r.Health.IsAvailable(time.GetUtcNow()) ? 1 : 0,
                new("service", r.Service),
                new("endpoint", r.Id),
                new("role", RouteNames.Of(r.Role)))),
            "{endpoint}",
            "1 when the endpoint is healthy and not ejected.");
        meter.CreateObservableGauge(
            "shadowing.router.routing_table.stale",
            () => cache.Status.Stale ? 1 : 0,
            "{bool}",
            "1 while the router serves its last good routing tables because the store cannot be read.");
    }

    public void Decision(string service, RouteKind kind, RouteReason reason) =>
        _decisions.Add(1, new TagList { { "service", service }, { "route", RouteNames.Of(kind) }, { "reason", RouteNames.Of(reason) } });

    public void Started(RoutedEndpoint endpoint) => _inFlight.Add(1, Tags(endpoint));

    public void Finished(RoutedEndpoint endpoint, int statusCode, double milliseconds, bool failed)
    {
        var tags = Tags(endpoint);
        _inFlight.Add(-1, tags);
        _latency.Record(milliseconds, tags);
        tags.Add("status_class", statusCode switch { 0 => "none", < 200 => "1xx", < 300 => "2xx", < 400 => "3xx", < 500 => "4xx", _ => "5xx" });
        _requests.Add(1, tags);
        if (failed)
        {
            _errors.Add(1, Tags(endpoint));
        }
    }

    private static TagList Tags(RoutedEndpoint endpoint) =>
        new() { { "service", endpoint.Runtime.Service }, { "endpoint", endpoint.Id }, { "role", RouteNames.Of(endpoint.Role) } };
}
