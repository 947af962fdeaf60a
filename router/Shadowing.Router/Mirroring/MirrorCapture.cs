using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// One mirrored request while production serves it: the request body is teed as production's forward reads it and
/// production's response body as it is written to the client, into pooled buffers up to the policy's cap. When the
/// response has been sent (<see cref="HttpResponse.OnCompleted(Func{object, Task}, object)"/>), the copy is taken out
/// of the context and queued; nothing of it runs before production's answer is complete.
/// </summary>
internal sealed class MirrorCapture
{
    private readonly HttpContext _context;
    private readonly MirrorDispatcher _dispatcher;
    private readonly IRandomSource _random;
    private readonly CaptureBuffer _requestBody;
    private readonly CaptureBuffer _responseBody;
    private readonly TeeReadStream? _requestTee;
    private readonly Stream _clientBody;
    private RoutedEndpoint? _served;
    private int _status;
    private double _latencyMs;
    private bool _abandoned;
    private string? _error;
    private readonly System.Diagnostics.ActivityTraceId _traceId;

    private MirrorCapture(HttpContext context, MirrorDispatcher dispatcher, IRandomSource random, MirrorPlan plan, IReadOnlyList<RoutedEndpoint> targets, DateTimeOffset receivedAt)
    {
        _context = context;
        _dispatcher = dispatcher;
        _random = random;
        Plan = plan;
        Targets = targets;
        ReceivedAt = receivedAt;
        _traceId = System.Diagnostics.Activity.Current?.TraceId ?? default;
        var request = context.Request;
        _requestBody = new CaptureBuffer(plan.Policy.MaxBodyBytes, dispatcher.Memory);
        if (Forwarding.ServiceForwarder.HasBody(request))
        {
            _requestTee = new TeeReadStream(request.Body, _requestBody);
            request.Body = _requestTee;
        }

        _responseBody = new CaptureBuffer(plan.Policy.MaxBodyBytes, dispatcher.Memory);
        _clientBody = context.Response.Body;
        context.Response.Body = new TeeWriteStream(_clientBody, _responseBody);
    }

    public MirrorPlan Plan { get; }

    public IReadOnlyList<RoutedEndpoint> Targets { get; }

    public DateTimeOffset ReceivedAt { get; }

    /// <summary>Starts capturing <paramref name="context"/>'s bodies; the copy is queued once the response has been sent.</summary>
    public static MirrorCapture Begin(HttpContext context, MirrorDispatcher dispatcher, IRandomSource random, MirrorPlan plan, IReadOnlyList<RoutedEndpoint> targets, DateTimeOffset receivedAt)
    {
        var capture = new MirrorCapture(context, dispatcher, random, plan, targets, receivedAt);
        context.Response.OnCompleted(static state => ((MirrorCapture)state).Completed(), capture);
        return capture;
    }

    /// <summary>
    /// Production's forwarding is over: stops capturing the response and notes what production answered (status 0
    /// and <paramref name="error"/> when it did not, <paramref name="clientAbandoned"/> when that was the client's doing).
    /// </summary>
    public void Served(RoutedEndpoint endpoint, int status, double latencyMs, string? error, bool clientAbandoned = false)
    {
        _context.Response.Body = _clientBody;
        _abandoned = clientAbandoned;
        _served = endpoint;
        _status = status;
        _latencyMs = latencyMs;
        _error = error;
    }

    private Task Completed()
    {
        var job = TakeJob(out var dropReason);
        if (job is null)
        {
            _requestBody.Dispose();
            _responseBody.Dispose();
            if (dropReason is not null)
            {
                _dispatcher.Dropped(Plan.Service, dropReason);
            }
        }
        else
        {
            _dispatcher.TryEnqueue(job);
        }

        return Task.CompletedTask;
    }

    private MirrorJob? TakeJob(out string? dropReason)
    {
        dropReason = null;
        if (_served is not { } served)
        {
            dropReason = "not_forwarded";
            return null;
        }

        if (_abandoned)
        {
            // The client hung up: production's answer is cut short or never came, so there is nothing to judge a copy by,
            // and counting it as production's error would hide as many of the shadow's.
            dropReason = "client_aborted";
            return null;
        }

        if (served.Role != EndpointRole.Production)
        {
            // A shadow or the default answered (failover): there is no production answer to warm up against or judge by.
            dropReason = "not_served_by_production";
            return null;
        }

        if (Forwarding.ServiceForwarder.IsStream(_context.Response.ContentType))
        {
            // Production answered a stream (server-sent events or gRPC a client asked for without saying so in its
            // headers): its "latency" is the whole stream, and a copy is a plain request the shadow holds open until it
            // times out, failing a healthy shadow's validation.
            dropReason = "streaming";
            return null;
        }

        if (_requestBody.OverBudget || _responseBody.OverBudget)
        {
            dropReason = "memory_limit";
            return null;
        }

        if (_requestBody.Overflowed)
        {
            dropReason = "body_too_large";
            return null;
        }

        var request = _context.Request;
        if (_requestTee is not null && !_requestTee.Ended && _requestBody.Seen != request.ContentLength)
        {
            dropReason = "body_incomplete"; // production answered without reading the whole body
            return null;
        }

        var policy = Plan.Policy;
        var path = request.Path.Value ?? "/";
        var below = path.Length > 1 + Plan.Service.Length ? path[(1 + Plan.Service.Length)..] : string.Empty; // the bare service path, as production gets it
        RoutedEndpoint? secondary = null;
        var safe = MirrorPlan.IsSafe(MirrorPlan.EffectiveMethod(request));
        if (Plan.Production.Count > 1 && safe && _random.NextDouble() < policy.SecondaryShare)
        {
            // Only an endpoint the router would send production traffic to now: never more load on one it has ejected.
            var candidates = Plan.Production.Where(p => !ReferenceEquals(p, served) && p.Runtime.Health.IsAvailable(ReceivedAt)).ToList();
            secondary = candidates.Count == 0 ? null : candidates[_random.Next(candidates.Count)];
        }

        return new MirrorJob
        {
            Plan = Plan,
            Id = _dispatcher.NextId(),
            ReceivedAt = ReceivedAt,
            Method = request.Method,
            Safe = safe,
            Path = MirrorJob.CopyPath(below),
            RawPath = below.Contains('%', StringComparison.Ordinal) && Forwarding.EndpointTransformer.RawBelow(_context, below) is { } raw ? MirrorJob.CopyPath(raw) : null,
            Query = MirrorJob.CopyQuery(request.QueryString, policy),
            Headers = MirrorJob.CopyHeaders(request, policy),
            ContentType = request.ContentType,
            RequestBody = _requestBody,
            ProductionEndpoint = served.Id,
            ProductionStatus = _status,
            ProductionLatencyMs = _latencyMs,
            ProductionError = _error,
            ProductionBody = _responseBody,
            ProductionContentEncoding = _context.Response.Headers.ContentEncoding.ToString() is { Length: > 0 } coding ? coding : null,
            Targets = Targets,
            Secondary = secondary,
            TraceParent = MirrorJob.LinkedTraceParent(_traceId, request.Headers.TraceParent),
        };
    }
}
