using Dapr.Client;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace Shadowing.Dapr;

/// <summary>
/// Builds the <see cref="DaprClient"/> the adapters talk to the sidecar with. Every call has a deadline, and a connection
/// that stopped answering is found by HTTP/2 pings and replaced: a sidecar, or the component behind it, that hangs fails
/// calls within the call timeout (the SDK gives gRPC calls no deadline; its HttpClient's 100 s covers service invocation
/// only), and once it answers again calls go through on a new connection instead of queueing on the dead one for good.
/// The deadline covers the wait for the sidecar to start answering, which for the unary state and publish calls the
/// adapters make is the whole call.
/// </summary>
public static class DaprSidecarClient
{
    /// <summary>How long one state or pub/sub call may take before it fails as unavailable.</summary>
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromSeconds(10);

    // daprd's API server closes connections that ping more often than every 8 s (its keepalive enforcement policy,
    // pkg/api/grpc/server.go) and itself pings after 10 s idle, waiting 5 s for the answer: the same here.
    private static readonly TimeSpan PingDelay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Builds a client from <paramref name="builder"/> (endpoints and token from the environment unless set on it) whose
    /// calls fail after <paramref name="callTimeout"/> (default <see cref="DefaultCallTimeout"/>).
    /// </summary>
    public static DaprClient Build(DaprClientBuilder builder, TimeProvider time, TimeSpan? callTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(time);
        var timeout = callTimeout ?? DefaultCallTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero, nameof(callTimeout));
        // The SDK's default channel options, plus the handler: gRPC calls go through it, not through the client's
        // HttpClient (whose UseTimeout covers service invocation only).
        return builder.UseGrpcChannelOptions(new GrpcChannelOptions
        {
            ThrowOperationCanceledOnCancellation = true,
            HttpHandler = new DeadlineHandler(timeout, time)
            {
                InnerHandler = new SocketsHttpHandler
                {
                    KeepAlivePingDelay = PingDelay,
                    KeepAlivePingTimeout = PingTimeout,
                    KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                    EnableMultipleHttp2Connections = true,
                },
            },
            DisposeHttpClient = true,
        }).Build();
    }

    /// <summary>
    /// The sidecar's HTTP API: <c>DAPR_HTTP_ENDPOINT</c>, else <c>http://127.0.0.1:{DAPR_HTTP_PORT}</c>, else Dapr's
    /// default port 3500 (as the SDK finds it in the environment; read here from configuration, which holds it).
    /// </summary>
    public static string HttpOrigin(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration["DAPR_HTTP_ENDPOINT"] is { Length: > 0 } endpoint)
        {
            return endpoint.TrimEnd('/');
        }

        var port = configuration["DAPR_HTTP_PORT"] is { Length: > 0 } text && int.TryParse(text, out var p) ? p : 3500;
        return $"http://127.0.0.1:{port}";
    }

    /// <summary>The token daprd requires on its API (<c>DAPR_API_TOKEN</c>), or null.</summary>
    public static string? ApiToken(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration["DAPR_API_TOKEN"] is { Length: > 0 } token ? token : null;
    }

    /// <summary>
    /// An <see cref="HttpClient"/> for service invocation of <paramref name="appId"/> through the sidecar, with its API
    /// token. Not <c>DaprClient.CreateInvokeHttpClient(appId)</c> alone: its handler sets the token it was given over
    /// the one it read from the environment, so without one it sends none and daprd answers 401.
    /// </summary>
    public static HttpClient CreateInvokeClient(string appId, IConfiguration configuration) =>
        DaprClient.CreateInvokeHttpClient(appId, HttpOrigin(configuration), ApiToken(configuration));

    /// <summary>
    /// Fails a call still waiting for the sidecar's answer after the timeout. It fails as a transport error, which gRPC
    /// reports as <c>Unavailable</c> and the SDK wraps in a <see cref="global::Dapr.DaprException"/>, the failure every
    /// adapter already handles; a cancellation would instead escape as one the caller never asked for.
    /// </summary>
    private sealed class DeadlineHandler(TimeSpan timeout, TimeProvider time) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using var deadline = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            try
            {
                return await base.SendAsync(request, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new HttpRequestException($"the Dapr sidecar did not answer {request.RequestUri?.AbsolutePath} within {timeout.TotalSeconds:0.###} s", ex);
            }
        }
    }
}
