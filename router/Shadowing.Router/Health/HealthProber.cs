using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Endpoints;
using Shadowing.Core.Health;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Health;

/// <summary>
/// Active health checks: every <see cref="ActiveHealthCheckOptions.Interval"/> it probes each endpoint of every
/// routing table (production, default, and shadows that are not retired or failed) in parallel with
/// <c>GET {endpoint}{Path}</c>; a 2xx within <see cref="ActiveHealthCheckOptions.Timeout"/> is a success.
/// Probe latency is not an endpoint's latency (see <see cref="Routing.EndpointRuntime.TryRecheckLatency"/>).
/// </summary>
internal sealed partial class HealthProber : BackgroundService
{
    private readonly RoutingTableCache _cache;
    private readonly DaprSidecarEndpoint _sidecar;
    private readonly TimeProvider _time;
    private readonly ILogger<HealthProber> _logger;
    private readonly ActiveHealthCheckOptions _options;
    private readonly HttpClient _http;
    private readonly TaskCompletionSource _firstRound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public HealthProber(RoutingTableCache cache, DaprSidecarEndpoint sidecar, IOptions<RouterOptions> options, TimeProvider time, ILogger<HealthProber> logger)
    {
        _cache = cache;
        _sidecar = sidecar;
        _time = time;
        _logger = logger;
        _options = options.Value.ActiveHealthChecks;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = _options.Timeout,

            // Short-lived connections: a probe must notice an endpoint that restarted on the same port.
            PooledConnectionLifetime = _options.Interval,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    /// <summary>Completes when every endpoint known at start has been probed once (at once when probing is off).</summary>
    public Task FirstRound => _firstRound.Task;

    /// <summary>Probes every endpoint once.</summary>
    public Task ProbeAllAsync(CancellationToken cancellationToken)
    {
        var endpoints = _cache.Current.Services.Values.SelectMany(s => s.Probed).DistinctBy(e => e.Runtime).ToArray();
        return Task.WhenAll(endpoints.Select(e => ProbeAsync(e, cancellationToken)));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            _firstRound.TrySetResult();
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            if (!await BackgroundLoop.RunOnceAsync("health-probes", ProbeAllAsync, LogProbeRoundFailed, stoppingToken).ConfigureAwait(false))
            {
                return;
            }

            // Rounds start every Interval, not Interval after the slowest probe of the last one: an endpoint that does not
            // answer held every round for its Timeout, and three unhealthy rounds took up to 21 s instead of 15.
            _firstRound.TrySetResult();
            var wait = _options.Interval - _time.GetElapsedTime(started);
            if (!await BackgroundLoop.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private async Task ProbeAsync(RoutedEndpoint endpoint, CancellationToken cancellationToken)
    {
        var address = endpoint.Address;
        using var request = new HttpRequestMessage(HttpMethod.Get, _sidecar.PrefixOf(address) + _options.Path);
        if (address.Scheme == EndpointScheme.Dapr && _sidecar.ApiToken is { } token)
        {
            request.Headers.TryAddWithoutValidation(DaprSidecarEndpoint.ApiTokenHeader, token);
        }

        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        bool success;
        string? failure = null;
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            // The default endpoint is the last resort, often a "busy" page that answers 503 to every path: whatever it
            // answers is the service's own answer, better than the router's 503, so any answer means it serves; not
            // daprd's own 500 when it cannot reach a dapr:// default's app, which is no answer of the app's.
            success = response.IsSuccessStatusCode
                || (endpoint.Role == Core.Routing.EndpointRole.Default
                    && !(address.Scheme == EndpointScheme.Dapr && response.StatusCode == System.Net.HttpStatusCode.InternalServerError
                        && await Forwarding.SidecarInvokeFailure.ReadAsync(response, linked.Token).ConfigureAwait(false) is not null));
            failure = success ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            success = false;
            failure = $"no answer within {_options.Timeout}";
        }
        catch (HttpRequestException ex)
        {
            success = false;
            failure = ex.Message;
        }

        switch (endpoint.Runtime.Health.RecordProbe(success, _time.GetUtcNow()))
        {
            case ProbeStatus.Unhealthy:
                LogUnhealthy(endpoint.Runtime.Service, endpoint.Id, _options.UnhealthyThreshold, failure);
                break;
            case ProbeStatus.Healthy:
                // Back (or seen for the first time): likely a new process, judged cold again rather than by the latency
                // of the one before, which kept a restarted endpoint over its maxLatencyMs until rechecks brought it down.
                endpoint.Runtime.ResetLatency();
                LogHealthy(endpoint.Runtime.Service, endpoint.Id);
                break;
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Warning, Message = "Service {Service}: endpoint {Endpoint} is unhealthy after {Failures} failed probes (last: {Failure})")]
    private partial void LogUnhealthy(string service, string endpoint, int failures, string? failure);

    [LoggerMessage(EventId = 32, Level = LogLevel.Error, Message = "A round of health probes failed unexpectedly; probing again at the next interval")]
    private partial void LogProbeRoundFailed(Exception error);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Service {Service}: endpoint {Endpoint} is healthy")]
    private partial void LogHealthy(string service, string endpoint);
}
