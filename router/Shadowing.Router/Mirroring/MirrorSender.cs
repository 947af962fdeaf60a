using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Metrics;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// What a copy carries, whichever transport brought it. <paramref name="ProductionBody"/> is production's decoded body, or
/// with <paramref name="FingerprintSalt"/> (pub/sub: the envelope's id, which a replay's <paramref name="Id"/> extends) its
/// <see cref="AnswerFingerprint"/> with that salt.
/// </summary>
internal sealed record CopyRequest(
    string Service,
    string Id,
    string Method,
    string Path,
    string? RawPath,
    string Query,
    IReadOnlyList<KeyValuePair<string, string[]>> Headers,
    ReadOnlyMemory<byte> Body,
    DateTimeOffset ReceivedAt,
    string TraceParent,
    EndpointAnswer Production,
    ReadOnlyMemory<byte>? ProductionBody,
    string? FingerprintSalt,
    TimeSpan Timeout,
    int MaxBodyBytes,
    IReadOnlyList<string> IgnoreFields);

/// <summary>
/// Sends copies to shadows (or a second production endpoint) with an HTTP client of its own, separate from production's
/// forwarding and with the policy's timeout; compares each answer with production's; records it in the target's own
/// per-minute records (never production's, never anyone's health or latency EWMA: a copy to a second production endpoint
/// only holds one of its slots while it is sent, so its in-flight peak shows it); and publishes the outcome on
/// <c>shadow-outcomes</c>.
/// </summary>
internal sealed partial class MirrorSender : IDisposable
{
    private readonly HttpMessageInvoker _client;
    private readonly IEventBus _bus;
    private readonly DaprSidecarEndpoint _sidecar;
    private readonly RouterMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<MirrorSender> _logger;
    private readonly MirrorMemory _memory;
    private readonly OutcomeRecorder _recorder;
    private readonly int _maxInFlightPerTarget;

    public MirrorSender(IEventBus bus, DaprSidecarEndpoint sidecar, RouterMetrics metrics, OutcomeRecorder recorder, IOptions<RouterOptions> options, MirrorMemory memory, TimeProvider time, ILogger<MirrorSender> logger)
    {
        _memory = memory;
        _recorder = recorder;

        // A quarter of the senders (at least one) always left to other targets, whatever one slow shadow holds; a single
        // fast shadow keeps the rest.
        var senders = options.Value.Mirroring.Senders;
        _maxInFlightPerTarget = Math.Max(1, senders - Math.Max(1, senders / 4));
        _bus = bus;
        _sidecar = sidecar;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.Value.Forwarding.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        });
    }

    /// <summary>
    /// Copies in a row that must time out before a target counts as stalled. Senders are shared by every service's
    /// shadows, so a shadow that takes copies and never answers would otherwise hold each sender it gets for the whole
    /// timeout and starve the others of copies; a slow shadow that answers is never stalled (the queue's senders shed
    /// what it cannot take past its share, see <see cref="SendAsync"/>).
    /// </summary>
    public const int StallAfter = 3;

    /// <summary>
    /// Sends one copy to <paramref name="target"/> and publishes the outcome; never throws for the target's failures.
    /// A stalled target (<see cref="StallAfter"/> timeouts in a row) gets one copy at a time until one is answered; each
    /// other copy is not sent, counted (<c>target_stalled</c>) and published as a failed outcome, so validation sees a
    /// hung shadow fail at the rate it is mirrored to, not at one copy per timeout. With <paramref name="shedWhenBusy"/> (the
    /// queue's senders, which every service shares) a target already holding all but a
    /// quarter of the senders gets no more: the copy is counted (<c>target_busy</c>), not published (its answered copies show how slow it is). The
    /// replayer does not shed: its envelopes wait for a sender instead.
    /// </summary>
    public async Task SendAsync(CopyRequest copy, RoutedEndpoint target, OutcomeKind kind, CancellationToken cancellationToken, bool shedWhenBusy = false)
    {
        // A copy to production takes one of the endpoint's own slots while it is sent, as a client's request does, and is
        // not sent without one: one saturated must not get copies past its maxConcurrency on top of its clients.
        ProductionSlot? slot = null;
        if (kind == OutcomeKind.ProductionNoise)
        {
            if (!target.Runtime.TryEnter(target.MaxConcurrency))
            {
                _metrics.MirrorDropped(copy.Service, "production_busy");
                return;
            }

            slot = new ProductionSlot(target.Runtime);
        }

        try
        {
            await SendCoreAsync(copy, target, kind, cancellationToken, shedWhenBusy, slot).ConfigureAwait(false);
        }
        finally
        {
            slot?.Release();
        }
    }

    private async Task SendCoreAsync(CopyRequest copy, RoutedEndpoint target, OutcomeKind kind, CancellationToken cancellationToken, bool shedWhenBusy, ProductionSlot? slot)
    {
        var startedAt = _time.GetUtcNow();
        var entry = target.Runtime.TryEnterMirror(StallAfter, shedWhenBusy ? _maxInFlightPerTarget : int.MaxValue);
        if (entry == MirrorEntry.Busy)
        {
            // Shed, not failed: the copies it answers show how slow it is; what it could not take is only counted.
            _metrics.MirrorDropped(copy.Service, "target_busy");
            return;
        }

        if (entry == MirrorEntry.Stalled)
        {
            slot?.Release(); // not sent: the endpoint's clients have it back before the outcome is published
            _metrics.MirrorDropped(copy.Service, "target_stalled");
            var unsent = new EndpointAnswer(target.Id, 0, 0, 0, null, $"not sent: its last {StallAfter} copies timed out", false);
            // In the shadow's minute records at the copy timeout (its last copies timed out, or failed to connect within their
            // time): at 0 ms, a hung shadow's mirror latency would read faster the longer it hangs. (The outcome keeps 0, not
            // measured: validation leaves it out of latency.)
            await ReportAsync(copy, target, kind, startedAt, unsent, (false, []), counted: false, cancellationToken, minuteLatencyMs: copy.Timeout.TotalMilliseconds).ConfigureAwait(false);
            return;
        }

        EndpointAnswer answer;
        (bool Compared, IReadOnlyList<string> Paths) comparison;
        using (var answerBody = new CaptureBuffer(copy.MaxBodyBytes, _memory))
        {
            var held = false;
            try
            {
                (answer, var encoding, held) = await SendOnceAsync(copy, target, answerBody, cancellationToken).ConfigureAwait(false);
                comparison = answer.Status == 0 ? (false, []) : Compare(copy, answerBody, encoding);
            }
            finally
            {
                // Before the outcome is published: a bus that is down must not reset the target's run of timeouts, nor hold
                // a production endpoint's slot from its clients.
                target.Runtime.ExitMirror(held);
                slot?.Release();
            }
        }

        await ReportAsync(copy, target, kind, startedAt, answer, comparison, counted: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the copy; returns the target's answer, its content encoding, and whether the send held its sender until a
    /// timeout: the copy's own, or the connect timeout of a target whose address takes connections nowhere (a stopped
    /// VM, a firewall that drops packets), which holds a sender as surely and must stall the target as a hung one does.
    /// </summary>
    private async Task<(EndpointAnswer Answer, string? ContentEncoding, bool Held)> SendOnceAsync(CopyRequest copy, RoutedEndpoint target, CaptureBuffer answerBody, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        long headersAt = 0;
        int status;
        string? error = null;
        var timedOut = false;
        var connectTimedOut = false;
        string? contentEncoding = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(copy.Timeout);
        try
        {
            using var request = Build(copy, target);
            using var response = await _client.SendAsync(request, timeout.Token).ConfigureAwait(false);
            headersAt = _time.GetTimestamp();
            status = (int)response.StatusCode;
            contentEncoding = response.Content.Headers.ContentEncoding.Count > 0 ? string.Join(", ", response.Content.Headers.ContentEncoding) : null;
            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            var buffer = ArrayPool<byte>.Shared.Rent(8192);
            try
            {
                await using (stream.ConfigureAwait(false))
                {
                    int read;
                    // No further than what can be compared: a long download past maxBodyBytes would hold the sender for
                    // nothing, and be judged a timeout when it outlasts it.
                    while (!answerBody.Overflowed && (read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false)) > 0)
                    {
                        answerBody.Append(buffer.AsSpan(0, read));
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The copy's own timeout, or the handler's ConnectTimeout (also a cancellation): only the first says how slow
            // the shadow is; a connection never made says nothing of that. A body under maxBodyBytes still coming when
            // the timeout fires (its headers came) is no answer either: trickling or hung, it held the sender as long.
            status = 0;
            timedOut = timeout.IsCancellationRequested;
            connectTimedOut = !timedOut && ex.InnerException is TimeoutException;
            error = timedOut ? $"no answer within {copy.Timeout}" : ex.InnerException?.Message ?? ex.Message;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            status = 0; // a body cut off by the shadow too: it failed to answer
            error = ex.Message;
        }

        // Like production's (ServiceForwarder.ServerLatency): to the response headers, which is what the two can be compared
        // on; a copy that timed out or failed counts its whole wait.
        var latency = (status == 0 ? _time.GetElapsedTime(started) : _time.GetElapsedTime(started, headersAt)).TotalMilliseconds;
        var answer = new EndpointAnswer(
            target.Id,
            status,
            Math.Round(timedOut ? Math.Max(latency, copy.Timeout.TotalMilliseconds) : latency, 3), // a timer may fire a hair early
            answerBody.Seen,
            status == 0 || answerBody.Overflowed ? null : MirrorJob.Digest(answerBody.Written.Span),
            error,
            timedOut);
        return (answer, contentEncoding, timedOut || connectTimedOut);
    }

    /// <summary>Records the outcome in the target's own minutes (a shadow's), counts it unless it was counted as dropped, and publishes it.</summary>
    private async Task ReportAsync(CopyRequest copy, RoutedEndpoint target, OutcomeKind kind, DateTimeOffset startedAt, EndpointAnswer answer, (bool Compared, IReadOnlyList<string> Paths) comparison, bool counted, CancellationToken cancellationToken, double? minuteLatencyMs = null)
    {
        var failed = answer.Status is 0 or >= 500;
        var differs = answer.Status != copy.Production.Status || comparison.Paths.Count > 0;
        if (kind == OutcomeKind.Shadow)
        {
            // The shadow's own records; a second production endpoint's noise copy is recorded nowhere but the outcome.
            target.Runtime.Minutes.RecordMirror(startedAt, minuteLatencyMs ?? answer.LatencyMs, failed, comparison.Compared, differs);
        }

        if (counted)
        {
            _metrics.MirrorCopy(copy.Service, target.Id, failed ? "failed" : differs ? "differs" : "same");
        }

        var outcome = new MirrorOutcome
        {
            RequestId = copy.Id,
            Service = copy.Service,
            Kind = kind,
            Method = copy.Method,
            Path = copy.Path,
            ReceivedAt = copy.ReceivedAt,
            SentAt = startedAt,
            Production = copy.Production,
            Copy = answer,
            DifferingPaths = comparison.Paths,
            Compared = comparison.Compared,
        };
        _recorder.Add(outcome);
        await _bus.PublishAsync(Topics.ShadowOutcomes, outcome, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _client.Dispose();

    /// <summary>
    /// Whether both bodies could be compared, and the JSON paths that differ (<c>$</c> when bodies differ and are not
    /// JSON). Both are compared decoded: production's arrives decoded, the answer is decoded here; and as fingerprints when
    /// production's arrived as one. Once production's whole answer was read, an answer past <c>maxBodyBytes</c> (not one cut
    /// short by the mirror's memory budget, which says nothing of the shadow) or one
    /// whose coding is known but whose bytes do not decode (plain JSON labelled gzip, a corrupt stream) differs whole: no
    /// client could read it as production's. Only a coding the router cannot undo leaves the pair uncompared.
    /// </summary>
    internal static (bool Compared, IReadOnlyList<string> Paths) Compare(CopyRequest copy, CaptureBuffer answer, string? contentEncoding)
    {
        if (copy.ProductionBody is not { } production)
        {
            return (false, []);
        }

        if (answer.Overflowed)
        {
            // Past maxBodyBytes it differs; cut short by the router's own memory budget nothing is known of it.
            return answer.OverBudget ? (false, []) : (true, ["$"]);
        }

        if (ContentDecoding.Decode(answer.Written, contentEncoding, copy.MaxBodyBytes) is not { } decoded)
        {
            return ContentDecoding.CanDecode(contentEncoding) ? (true, ["$"]) : (false, []);
        }

        if (copy.FingerprintSalt is { } salt)
        {
            decoded = AnswerFingerprint.Of(decoded.Span, salt);
        }

        if (production.Span.SequenceEqual(decoded.Span))
        {
            return (true, []);
        }

        return (true, JsonDiff.Compare(production, decoded, copy.IgnoreFields) ?? ["$"]);
    }

    private HttpRequestMessage Build(CopyRequest copy, RoutedEndpoint target)
    {
        var request = new HttpRequestMessage(new HttpMethod(copy.Method), target.Transformer.Destination(new PathString(copy.Path), new QueryString(copy.Query), copy.RawPath))
        {
            Version = HttpVersion.Version11,
            Content = copy.Body.IsEmpty ? null : new ReadOnlyMemoryContent(copy.Body),
        };
        foreach (var (name, values) in copy.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, values))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, values);
            }
        }

        request.Headers.TryAddWithoutValidation(MirrorJob.MirrorHeader, "1");
        request.Headers.TryAddWithoutValidation("traceparent", copy.TraceParent);
        if (target.Address.Scheme == Core.Endpoints.EndpointScheme.Dapr && _sidecar.ApiToken is { } token)
        {
            request.Headers.TryAddWithoutValidation(DaprSidecarEndpoint.ApiTokenHeader, token);
        }

        return request;
    }

    /// <summary>The production slot a noise copy holds while it is sent; given back once, as early as the send ends.</summary>
    private sealed class ProductionSlot(EndpointRuntime runtime)
    {
        private int _released;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                runtime.Exit();
            }
        }
    }
}
