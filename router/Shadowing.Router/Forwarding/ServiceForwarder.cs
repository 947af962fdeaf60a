using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Shadowing.Core.Health;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Dapr.Messaging;
using Shadowing.Router.Metrics;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// Handles <c>/{service}/{**path}</c>: asks ARC where to send the request, forwards it with YARP, records
/// health, latency and metrics, and fails over once to the next choice when an idempotent request fails
/// before any response byte reached the client.
/// </summary>
internal sealed partial class ServiceForwarder(
    RoutingTableCache cache,
    RouteSelector selector,
    IHttpForwarder forwarder,
    ForwarderClient client,
    RouterMetrics metrics,
    MirrorDispatcher mirrors,
    Alerts.AlertPublisher alerts,
    IRandomSource random,
    IOptions<RouterOptions> options,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<ServiceForwarder> logger)
{
    // Only daprd knows APP_API_TOKEN; when the router is reached through Dapr alone, nobody else may call it.
    private readonly byte[]? _appToken = options.Value.DaprInvocationOnly ? DaprAppToken.Read(configuration) : null;
    private const int MaxReservationAttempts = 8;
    private const string AllowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
    private readonly long _retryBodyLimit = options.Value.Forwarding.RetryBodyLimitBytes;
    private readonly double _uploadingShare = options.Value.Limits.MaxUploadingShare;
    private readonly long _uploadTimeoutTicks = (long)(time.TimestampFrequency * options.Value.Limits.BodyUploadTimeout.TotalSeconds);
    private readonly long _decisionLogInterval = (long)(time.TimestampFrequency * DecisionLogInterval.TotalSeconds);

    /// <summary>At most one routing-decision line per service per this interval; the next one says how many were held back.</summary>
    public static TimeSpan DecisionLogInterval { get; } = TimeSpan.FromSeconds(1);

    public async Task HandleAsync(HttpContext context, string service)
    {
        if (_appToken is not null && !DaprAppToken.Matches(context.Request, _appToken))
        {
            // The service label only as a table names it: a stranger's made-up names (or case variants) must not grow the metric.
            metrics.Refused(cache.Current.Services.TryGetValue(service, out var known) ? known.Service : string.Empty, "app_token");
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        if (!cache.Current.Services.TryGetValue(service, out var routes))
        {
            var unread = cache.Current.Unread.TryGetValue(service, out var stored);
            metrics.Refused(unread ? stored! : string.Empty, !cache.Status.Loaded || unread ? "routing_not_loaded" : "unknown_service");
            await (!cache.Status.Loaded
                ? Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "routing-not-loaded", "Routing tables not loaded", $"The router has not loaded its routing tables yet, so it cannot route service '{service}'. Retry shortly.", service, "routing_not_loaded")
                : !unread
                ? Problems.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-service", "Unknown service", $"The router has no routing table for service '{service}'.", service, "unknown_service")
                : Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "routing-not-loaded", "Routing table not loaded", $"The router could not read the routing table of service '{service}' yet. Retry shortly.", service, "routing_not_loaded")).ConfigureAwait(false);
            return;
        }

        var request = context.Request;
        if ((HttpMethods.IsConnect(request.Method) && context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect != true) || HttpMethods.IsTrace(request.Method))
        {
            // Neither is forwarded: CONNECT would make the router a tunnel (HTTP/2 extended CONNECT, WebSockets, is
            // forwarded), TRACE echoes headers (cookies, tokens) back.
            context.Response.Headers.Allow = AllowedMethods;
            metrics.Refused(routes.Service, "method_not_allowed");
            await Problems.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method-not-allowed", "Method not allowed", $"The router does not forward {request.Method} requests.", service, "method_not_allowed").ConfigureAwait(false);
            return;
        }

        if (request.ContentLength is { } declared && context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize is { } maxBody && declared > maxBody)
        {
            // Refused before any endpoint is contacted; the connection is closed rather than the body read and discarded.
            context.Response.Headers.Connection = "close";
            metrics.Refused(routes.Service, "body_too_large");
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", "Request body too large", $"The request body ({declared} bytes) is over the router's limit of {maxBody} bytes.", service, "body_too_large").ConfigureAwait(false);
            return;
        }

        var requestPath = request.Path.Value!;
        if (HasDotSegment(requestPath))
        {
            // Kestrel removes dot segments, so only a server or test that bypasses it gets here; forwarded, one
            // could climb out of an endpoint's base path, or out of the sidecar's invoke API.
            metrics.Refused(routes.Service, "bad_path");
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "bad-path", "Bad path", "The request path has a '.' or '..' segment.", service, "bad_path").ConfigureAwait(false);
            return;
        }

        UploadBody? upload = null;
        var hasBody = HasBody(request);
        if (hasBody)
        {
            // Requests still sending their body hold endpoint slots; past their share, refuse more rather than let slow
            // uploads push every other client off production.
            var limit = routes.ProductionCapacity is { } capacity ? (int)Math.Clamp(capacity * _uploadingShare, 1, int.MaxValue) : int.MaxValue;
            if (!routes.Uploads.TryStart(limit))
            {
                context.Response.Headers.RetryAfter = "1";
                context.Response.Headers.Connection = "close";
                metrics.Refused(routes.Service, "uploads_saturated");
                await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "uploads-saturated", "Too many uploads", $"Service '{service}' already has {limit} request(s) still sending their body, the router's limit (Router:Limits:MaxUploadingShare of its production capacity). Retry shortly.", service, "uploads_saturated").ConfigureAwait(false);
                return;
            }

            upload = new UploadBody(request.Body, routes.Uploads, time, time.GetTimestamp() + _uploadTimeoutTicks);
            request.Body = upload;
        }

        try
        {
            await RouteAsync(context, routes, hasBody, upload).ConfigureAwait(false);
        }
        finally
        {
            upload?.End();
        }
    }

    /// <summary>
    /// Whether the request has a body: a positive Content-Length, or none and chunked, or (HTTP/2 and 3 frame a body
    /// without either header) none and Kestrel saw the request's headers not end its stream.
    /// </summary>
    internal static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0
        || (request.ContentLength is null
            && (request.Headers.TransferEncoding.Count > 0 || request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true));

    private async Task RouteAsync(HttpContext context, ServiceRoutes routes, bool hasBody, UploadBody? upload)
    {
        var request = context.Request;
        var requestPath = request.Path.Value!;
        // Decided once per client request, before the failover loop: a retried request is mirrored once. The capture
        // wraps the body before replay buffering does, so it sees each byte once however often it is replayed.
        var mirror = routes.Mirror is { } plan ? BeginMirror(context, plan) : null;
        var idempotent = routes.IsIdempotent(request.Method, requestPath);
        var replayable = idempotent && (!hasBody || PrepareBodyForReplay(request));
        var decision = Reserve(routes, tried: null);
        List<RoutedEndpoint>? tried = null;
        while (true)
        {
            if (decision.Target is not { } endpoint)
            {
                await WriteNoEndpointAsync(context, routes.Service, decision).ConfigureAwait(false);
                return;
            }

            metrics.Decision(routes.Service, decision.Kind, decision.Reason);
            if ((decision.Kind != RouteKind.Production || decision.Reason is RouteReason.Panic or RouteReason.OverLatency) && routes.DecisionLog.TryPass(time.GetTimestamp(), _decisionLogInterval, out var heldBack))
            {
                LogRouted(routes.Service, RouteNames.Of(decision.Kind), endpoint.Id, RouteNames.Of(decision.Reason), RouteNames.Of(decision.ProductionReason), heldBack);
                alerts.TryRaise(
                    Core.Validation.AlertKind.Failover,
                    routes.Service,
                    endpoint.Id,
                    $"routed to {RouteNames.Of(decision.Kind)} endpoint {endpoint.Id} ({RouteNames.Of(decision.Reason)}; production: {RouteNames.Of(decision.ProductionReason)})",
                    Core.State.StateKeys.Routing(routes.Service));
            }

            var (error, own) = await ForwardAsync(context, endpoint, upload, timeHeaders: mirror is not null).ConfigureAwait(false);
            if (error == ForwarderError.None)
            {
                mirror?.Served(endpoint, context.Response.StatusCode, own, null);
                return;
            }

            (tried ??= []).Add(endpoint);
            var retry = IsRetryable(error) && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested;
            if (retry && replayable && tried.Count == 1 && !routes.IsIdempotent(MirrorPlan.EffectiveMethod(request), requestPath))
            {
                // The method the service acts on, read only when a retry is due (three header lookups off every request's
                // path): a GET tunnelling a write through a method-override header is that write, never sent twice.
                idempotent = replayable = false;
            }

            var next = retry && tried.Count == 1 && (replayable || NeverReached(context, endpoint, error, upload)) ? Reserve(routes, tried) : default;
            var cause = context.Features.Get<IForwarderErrorFeature>()?.Exception?.Message ?? Describe(error);
            if (next.Target is not null)
            {
                LogFailover(routes.Service, endpoint.Id, error.ToString(), cause, RouteNames.Of(next.Kind), next.Target.Id);
                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
                if (request.Body.CanSeek)
                {
                    request.Body.Position = 0;
                }

                decision = next;
                continue;
            }

            mirror?.Served(endpoint, 0, own, cause, clientAbandoned: IsClientError(error));
            if (upload is { TimedOut: true })
            {
                LogClientError(routes.Service, endpoint.Id, error.ToString(), "upload deadline passed");
                metrics.Refused(routes.Service, "upload_timeout");
                if (!context.Response.HasStarted)
                {
                    context.Response.Clear();
                    context.Response.Headers.Connection = "close";
                    await Problems.WriteAsync(context, StatusCodes.Status408RequestTimeout, "upload-timeout", "Upload took too long", $"The request body was still arriving after {options.Value.Limits.BodyUploadTimeout.TotalSeconds:0.###} s (Router:Limits:BodyUploadTimeout).", routes.Service, "upload_timeout").ConfigureAwait(false);
                }

                return;
            }

            // One line per failed request, without the exception's stack trace: a client that hangs up is routine.
            if (IsClientError(error))
            {
                LogClientError(routes.Service, endpoint.Id, error.ToString(), cause);
            }
            else
            {
                LogForwardFailed(routes.Service, endpoint.Id, error.ToString(), cause);
            }

            if (!context.Response.HasStarted && retry)
            {
                // The method that failed the check: the request's own, or the one its method-override header names.
                var why = !idempotent ? $"{(routes.IsIdempotent(request.Method, requestPath) ? MirrorPlan.EffectiveMethod(request) : request.Method)} is not idempotent"
                    : !replayable ? (request.ContentLength is null ? "its body came without a length (chunked or streamed), so it could not be kept for a retry" : "its body was too large to keep for a retry")
                    : tried.Count > 1 ? "the retry failed too"
                    : "no other endpoint was available";
                var status = error == ForwarderError.RequestTimedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway;
                context.Response.Clear();
                await Problems.WriteAsync(
                    context,
                    status,
                    "forwarding-failed",
                    "Forwarding failed",
                    $"Endpoint '{endpoint.Id}' of service '{routes.Service}' failed before responding ({Describe(error)}); the request was not retried because {why}.",
                    routes.Service,
                    error == ForwarderError.RequestTimedOut ? "timeout" : "connect_failure").ConfigureAwait(false);
            }

            return;
        }
    }

    /// <summary>
    /// Whether the request provably never reached <paramref name="endpoint"/>, so any method may go to another (Envoy's
    /// <c>connect-failure</c> retry): no connection could be made (refused, or the name did not resolve), so no byte was
    /// sent, and none of the client's body has been read, so it can still be sent whole. Not through a sidecar: daprd
    /// has taken the body before it finds that it cannot reach the app.
    /// </summary>
    private static bool NeverReached(HttpContext context, RoutedEndpoint endpoint, ForwarderError error, UploadBody? upload) =>
        error == ForwarderError.Request
        && endpoint.Address.Scheme != Core.Endpoints.EndpointScheme.Dapr
        && upload is not { Started: true }
        && context.Features.Get<IForwarderErrorFeature>()?.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };

    /// <summary>Whether <paramref name="path"/> has a <c>.</c> or <c>..</c> segment (which a URI would resolve against the prefix).</summary>
    internal static bool HasDotSegment(ReadOnlySpan<char> path)
    {
        for (var i = path.IndexOf("/.", StringComparison.Ordinal); i >= 0; i = path.IndexOf("/.", StringComparison.Ordinal))
        {
            var rest = path[(i + 2)..];
            if (rest.IsEmpty || rest[0] == '/' || (rest[0] == '.' && (rest.Length == 1 || rest[1] == '/')))
            {
                return true;
            }

            path = path[(i + 1)..];
        }

        return false;
    }

    private static bool IsRetryable(ForwarderError error) =>
        error is ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.RequestBodyDestination;

    private static bool IsClientError(ForwarderError error) =>
        error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient
            or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient
            or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient;

    private static string Describe(ForwarderError error) => error switch
    {
        ForwarderError.Request => "connection refused, reset, failed or not made in time",
        ForwarderError.RequestTimedOut => "no response in time",
        ForwarderError.RequestBodyDestination => "the connection broke while sending the request body",
        _ => error.ToString(),
    };

    /// <summary>Whether an answer of <paramref name="contentType"/> is a stream that may go quiet for long by design.</summary>
    internal static bool IsStream(string? contentType) =>
        contentType is not null && (contentType.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) || contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase));

    /// <summary>How a forwarding attempt bears on the endpoint's health; null when the client caused it.</summary>
    private static ForwardOutcome? Classify(ForwarderError error, int statusCode) => error switch
    {
        ForwarderError.None => statusCode is 502 or 503 or 504 ? ForwardOutcome.Unavailable : statusCode >= 500 ? ForwardOutcome.ServerError : ForwardOutcome.Success,
        ForwarderError.RequestTimedOut => ForwardOutcome.Timeout,
        ForwarderError.Request or ForwarderError.RequestBodyDestination or ForwarderError.ResponseBodyDestination
            or ForwarderError.UpgradeRequestDestination or ForwarderError.UpgradeResponseDestination => ForwardOutcome.ConnectFailure,
        ForwarderError.ResponseHeaders => ForwardOutcome.ServerError,
        _ => null,
    };

    /// <summary>Keeps a small request body (there is one) so the request can be sent again; returns whether it can be.</summary>
    private bool PrepareBodyForReplay(HttpRequest request)
    {
        if (request.ContentLength is not { } length || length > _retryBodyLimit)
        {
            return false; // unknown or too large: stream it, do not retry
        }

        // Up to 64 KiB in memory, the rest in a temporary file (ASPNETCORE_TEMP): all in memory, the buffer is taken as
        // buffering starts, before any byte arrives, so clients declaring large bodies and trickling them would pin
        // RetryBodyLimitBytes each with nothing bounding their number.
        request.EnableBuffering(bufferThreshold: (int)Math.Min(length, 64 * 1024), bufferLimit: _retryBodyLimit);
        return true;
    }

    /// <summary>Picks an endpoint and reserves a slot on it; a lost race for the last slot just picks again.</summary>
    private RouteDecision<RoutedEndpoint> Reserve(ServiceRoutes routes, List<RoutedEndpoint>? tried)
    {
        for (var attempt = 0; attempt < MaxReservationAttempts; attempt++)
        {
            var decision = tried is null
                ? selector.Select(routes.Production, routes.Shadows, routes.Default)
                : selector.SelectAfterFailure(routes.Production, routes.Shadows, routes.Default, tried);
            if (decision.Target is null || decision.Target.Runtime.TryEnter(decision.Target.MaxConcurrency))
            {
                return decision;
            }
        }

        return new RouteDecision<RoutedEndpoint>(RouteKind.None, null, RouteReason.Overloaded, RouteReason.Overloaded);
    }

    /// <summary>Decides whether to mirror this request and, if so, starts capturing its bodies.</summary>
    private MirrorCapture? BeginMirror(HttpContext context, MirrorPlan plan)
    {
        var decision = plan.Decide(context.Request, 1 + plan.Service.Length, random, out var targets, out var keyMissing);
        metrics.MirrorDecision(plan.Service, decision.Label());
        if (keyMissing)
        {
            metrics.MirrorKeyMissing(plan.Service);
        }

        if (decision != MirrorDecision.Mirrored)
        {
            return null;
        }

        if (mirrors.IsFull)
        {
            // Shadows are not keeping up: drop the copy now rather than capture bodies for one that cannot be queued.
            mirrors.Dropped(plan.Service, "queue_full");
            return null;
        }

        return MirrorCapture.Begin(context, mirrors, random, plan, targets, time.GetUtcNow());
    }

    /// <summary>Forwards to one endpoint; returns the outcome and the endpoint's own latency (see <see cref="ServerLatency"/>).</summary>
    private async Task<(ForwarderError Error, double OwnMs)> ForwardAsync(HttpContext context, RoutedEndpoint endpoint, UploadBody? upload, bool timeHeaders)
    {
        var runtime = endpoint.Runtime;

        // Only an endpoint with a latency threshold is judged by its latency, and a mirrored request's production latency
        // is the baseline its copies are judged against: only those requests pay for the marker.
        ResponseHeadersTime? headers = null;
        if (endpoint.MaxLatencyMs is not null || timeHeaders)
        {
            headers = context.Features.Get<ResponseHeadersTime>() ?? SetFeature(context, new ResponseHeadersTime(time));
            headers.At = 0; // a failover attempt marks its own
        }

        // A request counts in the minute it started, whenever it ends: a late answer still lands in its own minute.
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        ForwarderError error;
        try
        {
            error = await forwarder.SendAsync(context, endpoint.Transformer.Prefix, client.Invoker, client.RequestConfig, endpoint.Transformer).ConfigureAwait(false);
        }
        finally
        {
            runtime.Exit();
        }

        if (error == ForwarderError.None && endpoint.Address.Scheme == Core.Endpoints.EndpointScheme.Dapr && context.Features.Get<IForwarderErrorFeature>() is SidecarInvokeFailure)
        {
            error = ForwarderError.Request; // daprd could not reach the app: failed over and judged as a refused connection
        }

        // SocketsHttpHandler's ConnectTimeout (an OperationCanceledException around a TimeoutException), which YARP reports
        // as a response timeout: no connection was made, as to a host that is gone, so it is judged as one that refused.
        var exception = error == ForwarderError.None ? null : context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (error == ForwarderError.RequestTimedOut && exception is OperationCanceledException { InnerException: TimeoutException })
        {
            error = ForwarderError.Request;
        }

        var elapsed = time.GetElapsedTime(started).TotalMilliseconds;
        var status = error == ForwarderError.None ? context.Response.StatusCode : 0;
        var outcome = Classify(error, status);
        if (error == ForwarderError.ResponseBodyDestination && exception is OperationCanceledException)
        {
            // Quiet past ResponseTimeout after its headers, so YARP cut it. Server-sent events and gRPC streams are quiet by
            // design: the endpoint answered, and the cut is routine (no failure logged, its answer mirrored as answered).
            // Any other body stalled (chunked JSON included): a timeout.
            if (IsStream(context.Response.ContentType))
            {
                error = ForwarderError.None;
                status = context.Response.StatusCode;
                outcome = Classify(error, status);
            }
            else
            {
                (status, outcome) = (0, ForwardOutcome.Timeout);
            }
        }
        var now = time.GetUtcNow();
        metrics.Finished(endpoint, status, elapsed, outcome is not (null or ForwardOutcome.Success));
        var own = headers is null ? elapsed : ServerLatency(started, headers.At, upload, elapsed);
        if (outcome is { } o)
        {
            if (o is ForwardOutcome.Success or ForwardOutcome.ServerError or ForwardOutcome.Unavailable)
            {
                endpoint.ObserveLatency(own);
            }

            runtime.Minutes.Record(startedAt, elapsed, o != ForwardOutcome.Success);
            // The default's 5xx answers are its own way of serving (a "busy" page's 503): only failing to answer takes the
            // last resort out, since the router could answer no better.
            var judged = endpoint.Role == Core.Routing.EndpointRole.Default && o is ForwardOutcome.ServerError or ForwardOutcome.Unavailable ? ForwardOutcome.Success : o;
            if (runtime.Health.RecordOutcome(judged, now, startedAt) is { } until)
            {
                LogEjected(runtime.Service, endpoint.Id, o.ToString(), until);
            }

            if (error == ForwarderError.Request && exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } or OperationCanceledException)
            {
                runtime.Health.RecordNoConnection(now, startedAt);
            }
        }

        return (error, own);
    }

    private static T SetFeature<T>(HttpContext context, T feature)
    {
        context.Features.Set(feature);
        return feature;
    }

    /// <summary>
    /// The endpoint's own latency: from the request (or, when its body arrived later, the body's end) to the response
    /// headers; the whole exchange when no headers were marked.
    /// </summary>
    private double ServerLatency(long started, long headersAt, UploadBody? upload, double elapsed)
    {
        if (headersAt == 0)
        {
            return elapsed;
        }

        var from = upload is { EndedAt: var ended } && ended > started && ended < headersAt ? ended : started;
        return time.GetElapsedTime(from, headersAt).TotalMilliseconds;
    }

    private async Task WriteNoEndpointAsync(HttpContext context, string service, RouteDecision<RoutedEndpoint> decision)
    {
        // The metric and the 503's body give the same reason: why production could not take it.
        metrics.Decision(service, RouteKind.None, decision.ProductionReason);
        if (cache.Current.Services.TryGetValue(service, out var routes) && routes.DecisionLog.TryPass(time.GetTimestamp(), _decisionLogInterval, out var heldBack))
        {
            LogNoEndpoint(service, RouteNames.Of(decision.ProductionReason), heldBack);
        }

        var detail = decision.ProductionReason switch
        {
            RouteReason.Overloaded => $"Every production endpoint of service '{service}' is at its maxConcurrency, and no healthy PreWarmed or Active shadow or default endpoint can take the request.",
            RouteReason.Failover => $"Forwarding to service '{service}' failed and no other endpoint is available.",
            _ => $"No production endpoint of service '{service}' is healthy, and no healthy PreWarmed or Active shadow or default endpoint can take the request.",
        };
        context.Response.Clear();
        context.Response.Headers.RetryAfter = "1";
        await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-healthy-endpoint", "No endpoint available", detail, service, RouteNames.Of(decision.ProductionReason)).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Service {Service}: routed to {Route} endpoint {Endpoint} ({Reason}; production: {ProductionReason}); {HeldBack} similar line(s) held back since the last")]
    private partial void LogRouted(string service, string route, string endpoint, string reason, string productionReason, long heldBack);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Service {Service}: endpoint {Endpoint} failed before responding ({Error}: {Cause}); retrying once on {Route} endpoint {Next}")]
    private partial void LogFailover(string service, string endpoint, string error, string cause, string route, string next);

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "Service {Service}: forwarding to endpoint {Endpoint} failed ({Error}: {Cause})")]
    private partial void LogForwardFailed(string service, string endpoint, string error, string cause);

    [LoggerMessage(EventId = 25, Level = LogLevel.Debug, Message = "Service {Service}: the client ended the exchange with endpoint {Endpoint} early ({Error}: {Cause})")]
    private partial void LogClientError(string service, string endpoint, string error, string cause);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Service {Service}: endpoint {Endpoint} ejected until {Until:u} after consecutive failures (last: {Outcome})")]
    private partial void LogEjected(string service, string endpoint, string outcome, DateTimeOffset until);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Service {Service}: no endpoint can take the request (production: {ProductionReason}); answered 503; {HeldBack} similar line(s) held back since the last")]
    private partial void LogNoEndpoint(string service, string productionReason, long heldBack);
}
