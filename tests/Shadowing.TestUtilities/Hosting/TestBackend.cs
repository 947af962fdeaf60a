using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Shadowing.TestUtilities.Hosting;

/// <summary>
/// An HTTP endpoint on loopback standing in for a production endpoint, shadow or default: it answers
/// <c>/healthz</c> (switchable), and everything else with JSON naming itself and echoing the request, after an
/// optional delay or gate. It can be killed abruptly (connections aborted) and restarted on the same port.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private WebApplication? _app;
    private int _requests;
    private int _healthChecks;
    private int _inFlight;

    private TestBackend(string name) => Name = name;

    /// <summary>The name it puts in every answer.</summary>
    public string Name { get; }

    /// <summary><c>http://127.0.0.1:port</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Requests served, not counting health probes.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Health probes answered.</summary>
    public int HealthChecks => Volatile.Read(ref _healthChecks);

    /// <summary>For each request served (not probes), how many health probes this backend had answered when it arrived.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<int> HealthChecksWhenServed { get; } = new();

    /// <summary>Every request served (not probes), as it arrived: method, path, query, headers and body.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<ReceivedRequest> Received { get; } = new();

    /// <summary>Requests being served right now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Whether <c>/healthz</c> answers 200 (else 503).</summary>
    public bool Healthy { get; set; } = true;

    /// <summary>Whether each request is kept in <see cref="Received"/> (default); off for long runs that measure memory.</summary>
    public bool Record { get; set; } = true;

    /// <summary>Status code of ordinary answers. Default 200.</summary>
    public int StatusCode { get; set; } = 200;

    /// <summary>Content type of ordinary answers (their body is JSON whatever it says). Default <c>application/json</c>.</summary>
    public string ContentType { get; set; } = "application/json";

    /// <summary>Time taken before answering.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>When set, requests wait for it before answering.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Starts a backend on an ephemeral port (or <paramref name="port"/>).</summary>
    /// <summary>Compresses answers with this coding (<c>gzip</c> or <c>br</c>) when the request accepts it.</summary>
    public string? Compression { get; set; }

    /// <summary>How hard <see cref="Compression"/> compresses (two backends at different levels send different bytes).</summary>
    public System.IO.Compression.CompressionLevel CompressionLevel { get; set; } = System.IO.Compression.CompressionLevel.Optimal;

    public static async Task<TestBackend> StartAsync(string name, int port = 0)
    {
        var backend = new TestBackend(name);
        await backend.StartOnAsync(port).ConfigureAwait(false);
        return backend;
    }

    /// <summary>Stops abruptly: open connections are aborted, in-flight requests get no answer.</summary>
    public async Task KillAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts again on the same port after <see cref="KillAsync"/>.</summary>
    public Task RestartAsync() => StartOnAsync(Address.Port);

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await KillAsync().ConfigureAwait(false);

    private async Task StartOnAsync(int port)
    {
        _app = await LoopbackApp.StartAsync(null, app => app.Run(HandleAsync), port).ConfigureAwait(false);
        Address = LoopbackApp.AddressOf(_app);
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path == "/healthz")
        {
            Interlocked.Increment(ref _healthChecks);
            context.Response.StatusCode = Healthy ? 200 : 503;
            return;
        }

        Interlocked.Increment(ref _requests);
        if (Record)
        {
            HealthChecksWhenServed.Enqueue(HealthChecks);
        }

        Interlocked.Increment(ref _inFlight);
        try
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
            if (Record)
            {
                Received.Enqueue(new ReceivedRequest(
                    context.Request.Method,
                    context.Request.Path.Value ?? string.Empty,
                    context.Request.QueryString.Value ?? string.Empty,
                    context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                    body,
                    context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? string.Empty));
            }

            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            }

            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, TimeProvider.System, context.RequestAborted).ConfigureAwait(false);
            }

            // One write with a Content-Length: headers and body leave together, so an abort never cuts an answer in half.
            var payload = JsonSerializer.SerializeToUtf8Bytes(new
            {
                endpoint = Name,
                method = context.Request.Method,
                path = context.Request.Path.Value,
                query = context.Request.QueryString.Value,
                body,
                daprAppId = context.Request.Headers["dapr-app-id"].ToString(),
            });
            if (Compression is { } coding && context.Request.Headers.AcceptEncoding.ToString().Contains(coding, StringComparison.OrdinalIgnoreCase))
            {
                using var compressed = new MemoryStream();
                await using (Stream encoder = coding == "br"
                    ? new System.IO.Compression.BrotliStream(compressed, CompressionLevel, leaveOpen: true)
                    : new System.IO.Compression.GZipStream(compressed, CompressionLevel, leaveOpen: true))
                {
                    await encoder.WriteAsync(payload, context.RequestAborted).ConfigureAwait(false);
                }

                payload = compressed.ToArray();
                context.Response.Headers.ContentEncoding = coding;
            }

            context.Response.StatusCode = StatusCode;
            context.Response.ContentType = ContentType;
            context.Response.ContentLength = payload.Length;
            await context.Response.Body.WriteAsync(payload, context.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}

/// <summary>A request as a <see cref="TestBackend"/> received it.</summary>
/// <param name="RawTarget">The request target as it arrived on the wire, before Kestrel decoded it.</param>
public sealed record ReceivedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, string Body, string RawTarget = "");

/// <summary>What a <see cref="TestBackend"/> answers.</summary>
public sealed record BackendAnswer(string Endpoint, string Method, string Path, string? Query, string Body, string DaprAppId);
