using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Shadowing.Embedded.Workflows;

/// <summary>
/// Serves the durable-task service on loopback gRPC (h2c) for the Dapr.Workflow worker and client of this process.
/// It starts in <see cref="StartingAsync"/>, before any hosted service's <c>StartAsync</c>, so the worker finds it on
/// its first connect; on stop it ends the worker streams first, so shutdown does not wait on them.
/// </summary>
public sealed partial class EmbeddedWorkflowBackend : IHostedLifecycleService, IAsyncDisposable
{
    private readonly IOptions<EmbeddedWorkflowOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<EmbeddedWorkflowBackend> _logger;
    private readonly Socket _listener;
    private WebApplication? _server;
    private WorkflowEngine? _engine;
    private WorkflowStore? _store;
    private int _disposed;

    /// <summary>
    /// Binds the loopback port at once: the worker's gRPC client is configured when the host builds its hosted
    /// services, before any of them starts, so the address must be known by then. Kestrel serves the bound socket later.
    /// </summary>
    public EmbeddedWorkflowBackend(IOptions<EmbeddedWorkflowOptions> options, TimeProvider time, ILoggerFactory loggers, ILogger<EmbeddedWorkflowBackend> logger)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
        _logger = logger;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, options.Value.Port));
            _listener.Listen(512);
        }
        catch (SocketException ex)
        {
            _listener.Dispose();
            throw new InvalidOperationException($"The embedded workflow backend cannot listen on 127.0.0.1:{options.Value.Port} ({EmbeddedWorkflowOptions.Section}:Port): {ex.Message}", ex);
        }

        Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}");
    }

    /// <summary>Where the service listens (<c>http://127.0.0.1:{port}</c>).</summary>
    public Uri Address { get; }

    /// <summary>The engine (for tests: connected workers, activities in flight, dropping worker streams).</summary>
    internal WorkflowEngine Engine => _engine ?? throw new InvalidOperationException("The embedded workflow backend has not started yet.");

    /// <inheritdoc />
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var settings = _options.Value;
        _store = new WorkflowStore(settings.StatePath ?? WorkflowStore.InMemory);
        _engine = new WorkflowEngine(_store, _time, _options, _loggers.CreateLogger<WorkflowEngine>());
        var builder = InternalWebApplication.CreateBuilder();
        builder.WebHost.ConfigureKestrel(k => k.ListenHandle((ulong)_listener.SafeHandle.DangerousGetHandle(), o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(o =>
        {
            // Whole histories travel in one message; the worker itself sets no limit either.
            o.MaxReceiveMessageSize = null;
            o.MaxSendMessageSize = null;
        });
        builder.Services.AddSingleton(_engine);
        _server = builder.Build();
        _server.MapGrpcService<TaskHubSidecar>();
        await _server.StartAsync(cancellationToken).ConfigureAwait(false);
        _engine.Start();
        LogListening(Address, settings.StatePath ?? WorkflowStore.InMemory);
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        _engine?.DisconnectWorkers();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_engine is not null)
        {
            await _engine.DisposeAsync().ConfigureAwait(false);
        }

        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }

        _store?.Dispose();
        _listener.Dispose();
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Embedded workflow backend listening on {Address} (state: {StatePath})")]
    private partial void LogListening(Uri address, string statePath);
}
