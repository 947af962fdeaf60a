using System.Collections.Concurrent;
using System.Net;
using System.Text.RegularExpressions;
using Dapr.Client;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.TestUtilities.Dapr;

/// <summary>
/// A Dapr sidecar on loopback for contract tests that behaves like real daprd with a real component, not like an
/// ideal store. gRPC (h2c) serves the state and pub/sub methods of <c>dapr.proto.runtime.v1.Dapr</c> from the
/// public Dapr.Protos message types over a <see cref="FakeStoreMode">Redis or PostgreSQL</see> component; HTTP
/// serves daprd's own API routes first and service invocation only as the fallback, like daprd's router; API
/// tokens are checked and sent as daprd does; pub/sub delivery follows daprd's subscriber contract
/// (<see cref="FakePubSub"/>). Every call is recorded, so tests can show what reached which part.
/// </summary>
public sealed class FakeDaprSidecar : IAsyncDisposable
{
    private readonly WebApplication _grpc;
    private readonly WebApplication _http;

    private FakeDaprSidecar(WebApplication grpc, WebApplication http, FakeDaprState state)
    {
        _grpc = grpc;
        _http = http;
        State = state;
    }

    /// <summary>The sidecar's state store, pub/sub, apps, recorded calls and fault switch.</summary>
    public FakeDaprState State { get; }

    /// <summary>gRPC endpoint, for <c>DAPR_GRPC_ENDPOINT</c> or <see cref="DaprClientBuilder.UseGrpcEndpoint"/>.</summary>
    public string GrpcEndpoint { get; private set; } = string.Empty;

    /// <summary>HTTP endpoint, for <c>DAPR_HTTP_ENDPOINT</c>.</summary>
    public string HttpEndpoint { get; private set; } = string.Empty;

    /// <summary>The HTTP port, for <c>DAPR_HTTP_PORT</c>.</summary>
    public int HttpPort => new Uri(HttpEndpoint).Port;

    /// <summary>
    /// Starts a sidecar on ephemeral loopback ports over the <paramref name="mode"/> component. With
    /// <paramref name="apiToken"/> (daprd's <c>DAPR_API_TOKEN</c>) its API refuses calls without it; with
    /// <paramref name="appApiToken"/> (<c>APP_API_TOKEN</c>) it sends that token to the app.
    /// </summary>
    public static async Task<FakeDaprSidecar> StartAsync(FakeStoreMode mode = FakeStoreMode.Redis, string? apiToken = null, string? appApiToken = null)
    {
        var state = new FakeDaprState(mode, apiToken, appApiToken);
        var grpc = await LoopbackApp.StartAsync(
            builder =>
            {
                builder.Services.AddGrpc();
                builder.Services.AddSingleton(state);
                builder.Services.AddSingleton<Grpc.AspNetCore.Server.Model.IServiceMethodProvider<FakeDaprService>, FakeDaprService.MethodProvider>();
            },
            app => app.MapGrpcService<FakeDaprService>(),
            http2Only: true).ConfigureAwait(false);
        var http = await LoopbackApp.StartAsync(null, app => app.Run(state.HandleHttpAsync)).ConfigureAwait(false);
        return new FakeDaprSidecar(grpc, http, state)
        {
            GrpcEndpoint = LoopbackApp.AddressOf(grpc).ToString().TrimEnd('/'),
            HttpEndpoint = LoopbackApp.AddressOf(http).ToString().TrimEnd('/'),
        };
    }

    /// <summary>A real <see cref="DaprClient"/> wired to this sidecar (with its API token, as the SDK reads it from <c>DAPR_API_TOKEN</c>).</summary>
    public DaprClient CreateClient() =>
        new DaprClientBuilder().UseGrpcEndpoint(GrpcEndpoint).UseHttpEndpoint(HttpEndpoint).UseDaprApiToken(State.ApiToken).Build();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await State.PubSub.DisposeAsync().ConfigureAwait(false);
        await _grpc.DisposeAsync().ConfigureAwait(false);
        await _http.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>An HTTP request the fake sidecar received.</summary>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">The path as received (decoded, as Go's <c>r.URL.Path</c>).</param>
/// <param name="Kind">What daprd would do with it: <c>api</c> (its own route), <c>invoke</c>, <c>unauthorized</c> or <c>not-found</c>.</param>
/// <param name="Headers">Every header, lower-cased names.</param>
public sealed record SidecarHttpCall(string Method, string Path, string Kind, IReadOnlyDictionary<string, string> Headers);

/// <summary>An invocation the fake sidecar passed to an app.</summary>
/// <param name="AppId">The target app id.</param>
/// <param name="Method">The method path the app received.</param>
public sealed record SidecarInvocation(string AppId, string Method);

/// <summary>What the fake sidecar holds: the state component, pub/sub, invocable apps, recorded calls and a fault switch.</summary>
public sealed partial class FakeDaprState
{
    private static readonly HttpClient AppClient = new();
    private readonly ConcurrentDictionary<string, Func<HttpContext, string, Task>> _apps = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FakeStateComponent> _components = new(StringComparer.Ordinal);

    internal FakeDaprState(FakeStoreMode mode, string? apiToken, string? appApiToken)
    {
        Mode = mode;
        ApiToken = apiToken;
        Store = FakeStateComponent.Create(mode);
        PubSub = new FakePubSub(appApiToken);
        AppApiToken = appApiToken;
    }

    /// <summary>The app id of the app this sidecar runs beside: daprd sends it to invoked apps as <c>dapr-caller-app-id</c>.</summary>
    public string AppId { get; set; } = "caller";

    /// <summary>daprd's <c>APP_API_TOKEN</c>, which it sends to the apps it calls as <c>dapr-api-token</c>, if set.</summary>
    public string? AppApiToken { get; }

    /// <summary>The component reproduced.</summary>
    public FakeStoreMode Mode { get; }

    /// <summary>daprd's <c>DAPR_API_TOKEN</c>, if set.</summary>
    public string? ApiToken { get; }

    /// <summary>The state store component <c>statestore</c>.</summary>
    public FakeStateComponent Store { get; }

    /// <summary>
    /// The keys of state store component <paramref name="component"/>: <see cref="Store"/> for <c>statestore</c>; any other
    /// has keys of its own, as daprd gives each component over one Redis or database with <c>keyPrefix: name</c> (its keys
    /// are <c>{component}||{key}</c>), unless <see cref="ShareKeys"/> gave it another's (a custom <c>keyPrefix</c> naming it).
    /// </summary>
    public FakeStateComponent StoreOf(string component) =>
        component == "statestore" ? Store : _components.GetOrAdd(component, _ => { var store = FakeStateComponent.Create(Mode); store.Time = Store.Time; return store; });

    /// <summary>Gives <paramref name="component"/> the keys of <paramref name="with"/> (<c>keyPrefix</c> set to the other's prefix).</summary>
    public void ShareKeys(string component, string with) => _components[component] = StoreOf(with);

    /// <summary>The pub/sub component and subscriptions.</summary>
    public FakePubSub PubSub { get; }

    /// <summary>
    /// The state store components daprd loaded: those the repository's <c>components/</c> declares (every
    /// <c>kind: Component</c> of a <c>state.*</c> type), as <c>dapr run</c> loads them. Any other name is refused as daprd
    /// refuses it (<c>InvalidArgument</c>, "state store X is not found"); a test standing for a deployment with more adds them.
    /// </summary>
    public ConcurrentDictionary<string, bool> StateStores { get; } = new(RepositoryComponents("state.").Distinct().Select(n => KeyValuePair.Create(n, true)), StringComparer.Ordinal);

    /// <summary>The pub/sub components daprd loaded, from <c>components/</c> likewise; any other is "pubsub X not found".</summary>
    public ConcurrentDictionary<string, bool> PubSubs { get; } = new(RepositoryComponents("pubsub.").Distinct().Select(n => KeyValuePair.Create(n, true)), StringComparer.Ordinal);

    /// <summary>
    /// State store names whose component has the transactional outbox on (metadata <c>outboxPublishPubsub</c>,
    /// <c>outboxPublishTopic</c>), with where their changes are published.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, (string PubSub, string Topic)> Outboxes { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// When set, called with the gRPC method name (for example <c>GetState</c>) before each call; a returned
    /// <see cref="RpcException"/> fails the call, as a broken state store behind daprd would.
    /// </summary>
    public Func<string, RpcException?>? Fault { get; set; }

    /// <summary>Number of gRPC calls served, by method name.</summary>
    public ConcurrentDictionary<string, int> Calls { get; } = new(StringComparer.Ordinal);

    /// <summary>Every HTTP request received, in order.</summary>
    public ConcurrentQueue<SidecarHttpCall> HttpCalls { get; } = new();

    /// <summary>Every invocation passed to an app, in order.</summary>
    public ConcurrentQueue<SidecarInvocation> Invocations { get; } = new();

    /// <summary>Keys currently stored (including adapter-internal ones).</summary>
    public IReadOnlyList<string> Keys => Store.Keys;

    /// <summary>Events published through the sidecar, in order (dead-letter republishes included).</summary>
    public ConcurrentQueue<PublishedEvent> Published => PubSub.Published;

    /// <summary>Registers an app reachable by service invocation; the handler gets the method path.</summary>
    public void MapApp(string appId, Func<HttpContext, string, Task> handler) => _apps[appId] = handler;

    /// <summary>
    /// Registers an app that runs as a real HTTP server at <paramref name="address"/>: an invocation is passed on as daprd
    /// does (method, the method path, body and content type) and the app's status, content type and body come back.
    /// </summary>
    public void MapAppAt(string appId, Uri address) => _apps[appId] = async (context, method) =>
    {
        using var forward = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(address, method));
        // daprd's invocation headers (pkg/messaging: CallerIDHeader, CalleeIDHeader; the app token when set), which a
        // pub/sub delivery does not carry. daprd 1.18 calls its own app (invokeLocal) without them.
        if (!string.Equals(appId, AppId, StringComparison.Ordinal))
        {
            forward.Headers.TryAddWithoutValidation("dapr-caller-app-id", AppId);
            forward.Headers.TryAddWithoutValidation("dapr-callee-app-id", appId);
        }

        if (AppApiToken is not null)
        {
            forward.Headers.TryAddWithoutValidation("dapr-api-token", AppApiToken);
        }

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body).ConfigureAwait(false);
        if (body.Length > 0)
        {
            forward.Content = new ByteArrayContent(body.ToArray());
            if (context.Request.ContentType is { } contentType)
            {
                forward.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
            }
        }

        HttpResponseMessage response;
        try
        {
            response = await AppClient.SendAsync(forward, context.RequestAborted).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            // daprd's app channel could not reach the app (pkg/api/grpc/daprinternal.go: Internal "error invoking app channel").
            await WriteDirectInvokeErrorAsync(context, appId, $"rpc error: code = Internal desc = error invoking app channel: {context.Request.Method} \"{forward.RequestUri}\": {e.Message}").ConfigureAwait(false);
            return;
        }

        using var _ = response;
        context.Response.StatusCode = (int)response.StatusCode;
        context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
        if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified || context.Request.Method == "HEAD")
        {
            return; // no body to relay: an empty copy still writes once, and Kestrel refuses any write for these, closing the connection
        }

        context.Response.ContentLength = response.Content.Headers.ContentLength; // daprd relays an app's answer sized (respondWithHTTPRawResponse)
        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    };

    /// <summary>The state component <paramref name="name"/> as a gRPC call reaches it, or daprd's error for a name it did not load.</summary>
    internal FakeStateComponent LoadedStore(string name) => StateStores.ContainsKey(name)
        ? StoreOf(name)
        : throw new RpcException(new Status(StatusCode.InvalidArgument, $"state store {name} is not found"));

    /// <summary>Throws daprd's error for a pub/sub component it did not load (pkg/api/errors PubSubNotFound).</summary>
    internal void RequirePubSub(string name)
    {
        if (!PubSubs.ContainsKey(name))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"pubsub {name} not found"));
        }
    }

    /// <summary>
    /// Names of the components of <paramref name="typePrefix"/> declared anywhere under the repository's <c>components/</c>
    /// (redis/ and postgresql/ declare the same state stores, one set per deployment).
    /// </summary>
    private static IEnumerable<string> RepositoryComponents(string typePrefix)
    {
        var folder = Path.Combine(Data.RepositoryFiles.Root, "components");
        foreach (var file in Directory.EnumerateFiles(folder, "*.yaml", SearchOption.AllDirectories))
        {
            // One document per file or several separated by ---: each Component's metadata name and spec type.
            foreach (var document in File.ReadAllText(file).Split("\n---", StringSplitOptions.None))
            {
                var name = Regex.Match(document, @"^metadata:\s*\n\s+name:\s*(\S+)", RegexOptions.Multiline);
                var type = Regex.Match(document, @"^spec:\s*\n\s+type:\s*(\S+)", RegexOptions.Multiline);
                if (Regex.IsMatch(document, @"^kind:\s*Component\s*$", RegexOptions.Multiline) && name.Success && type.Success
                    && type.Groups[1].Value.StartsWith(typePrefix, StringComparison.Ordinal))
                {
                    yield return name.Groups[1].Value;
                }
            }
        }
    }

    /// <summary>Records a gRPC call, checks the API token as daprd's <c>checkAPITokenInContext</c> does, then the fault switch.</summary>
    internal void Enter(string method, ServerCallContext context)
    {
        Calls.AddOrUpdate(method, 1, (_, n) => n + 1);
        if (ApiToken is not null)
        {
            var sent = context.RequestHeaders.GetValue("dapr-api-token");
            if (sent is null)
            {
                throw new RpcException(new Status(StatusCode.Unauthenticated, "missing api token in request metadata"));
            }

            if (sent != ApiToken)
            {
                throw new RpcException(new Status(StatusCode.Unauthenticated, "authentication error: api token mismatch"));
            }
        }

        if (Fault?.Invoke(method) is { } error)
        {
            throw error;
        }
    }

    /// <summary>
    /// daprd's HTTP server (pkg/api/http/server.go): the API-token middleware first (APITokenAuthMiddleware: only
    /// <c>GET /v1.0/healthz</c> is exempt), then its own routes, and only a path matching none of them (or one of
    /// them with another method: chi's NotFound and MethodNotAllowed) falls through to onDirectMessage.
    /// </summary>
    internal async Task HandleHttpAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        var headers = request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        if (ApiToken is not null && request.Headers["dapr-api-token"] != ApiToken && !(request.Method == "GET" && path.StartsWith("/v1.0/healthz", StringComparison.Ordinal)))
        {
            HttpCalls.Enqueue(new(request.Method, path, "unauthorized", headers));
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync("invalid api token").ConfigureAwait(false);
            return;
        }

        request.Headers.Remove("dapr-api-token");
        if (ApiRoute(request.Method, path))
        {
            HttpCalls.Enqueue(new(request.Method, path, "api", headers));
            context.Response.StatusCode = StatusCodes.Status204NoContent; // e.g. /v1.0/shutdown answers 204 and stops the sidecar
            return;
        }

        // findTargetIDAndMethod: the dapr-app-id header wins (method = path.Clean(reqPath) without the leading '/'),
        // then /v1.0/invoke/{id}/method/{method}.
        string? appId = null;
        string? method = null;
        if (request.Headers.TryGetValue("dapr-app-id", out var header) && header.ToString() is { Length: > 0 } id)
        {
            appId = id;
            method = "/" + CleanPath(path).TrimStart('/');
            request.Headers.Remove("dapr-app-id");
        }
        else if (InvokePath().Match(path) is { Success: true } invoke)
        {
            appId = invoke.Groups[1].Value;
            method = "/" + invoke.Groups[2].Value;
        }

        if (appId is null || method is null)
        {
            HttpCalls.Enqueue(new(request.Method, path, "not-found", headers));
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync("failed getting app id either from the URL path or the header dapr-app-id").ConfigureAwait(false);
            return;
        }

        HttpCalls.Enqueue(new(request.Method, path, "invoke", headers));
        Invocations.Enqueue(new(appId, method));
        if (_apps.TryGetValue(appId, out var handler))
        {
            await handler(context, method).ConfigureAwait(false);
            return;
        }

        // Name resolution found no such app (mDNS's wording; nameresolution/mdns/mdns.go).
        await WriteDirectInvokeErrorAsync(context, appId, $"couldn't find service: {appId}").ConfigureAwait(false);
    }

    /// <summary>
    /// daprd's own answer when an invocation cannot reach its app (pkg/api/http/directmessaging.go, messages.ErrDirectInvoke):
    /// 500, <c>application/json</c>, no header of its own, <c>{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: …, err: …"}</c>.
    /// </summary>
    private static Task WriteDirectInvokeErrorAsync(HttpContext context, string appId, string error)
    {
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        context.Response.ContentType = "application/json";
        var body = System.Text.Encoding.UTF8.GetBytes(new System.Text.Json.Nodes.JsonObject { ["errorCode"] = "ERR_DIRECT_INVOKE", ["message"] = $"failed to invoke, id: {appId}, err: {error}" }.ToJsonString());
        context.Response.ContentLength = body.Length; // Go's server sizes a body under 2 KB written at once; Kestrel would chunk it
        return context.Response.Body.WriteAsync(body).AsTask();
    }

    /// <summary>
    /// Whether daprd serves <paramref name="method"/> <paramref name="path"/> itself (its routes from
    /// pkg/api/http/http.go: state, publish, bindings, secrets, actors, metadata, shutdown, health, configuration,
    /// and every alpha and beta API, workflows included).
    /// </summary>
    private static bool ApiRoute(string method, string path)
    {
        if (path.StartsWith("/v1.0/invoke/", StringComparison.Ordinal))
        {
            return false; // the invoke route is the fallback handler itself
        }

        if (path.StartsWith("/v1.0-alpha1/", StringComparison.Ordinal) || path.StartsWith("/v1.0-alpha2/", StringComparison.Ordinal) || path.StartsWith("/v1.0-beta1/", StringComparison.Ordinal))
        {
            return true;
        }

        return (method, path) switch
        {
            ("POST", "/v1.0/shutdown") => true,
            ("GET", "/v1.0/healthz" or "/v1.0/healthz/outbound") => true,
            ("GET" or "PUT", "/v1.0/metadata") => true,
            _ when path.StartsWith("/v1.0/metadata/", StringComparison.Ordinal) => method == "PUT",
            _ when path.StartsWith("/v1.0/state/", StringComparison.Ordinal) => method is "GET" or "POST" or "PUT" or "DELETE",
            _ when path.StartsWith("/v1.0/publish/", StringComparison.Ordinal) => method == "POST",
            _ when path.StartsWith("/v1.0/bindings/", StringComparison.Ordinal) => method is "POST" or "PUT",
            _ when path.StartsWith("/v1.0/secrets/", StringComparison.Ordinal) => method == "GET",
            _ when path.StartsWith("/v1.0/actors/", StringComparison.Ordinal) => true,
            _ when path.StartsWith("/v1.0/configuration/", StringComparison.Ordinal) => method == "GET",
            _ when path.StartsWith("/v1.0/workflows/", StringComparison.Ordinal) => true,
            _ => false,
        };
    }

    /// <summary>Go's path.Clean: resolves '.' and '..' segments.</summary>
    private static string CleanPath(string path)
    {
        var segments = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or ".")
            {
                continue;
            }

            if (segment == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }

                continue;
            }

            segments.Add(segment);
        }

        return "/" + string.Join('/', segments);
    }

    [GeneratedRegex("^/v1\\.0/invoke/([^/]+)/method/(.*)$")]
    private static partial Regex InvokePath();
}

/// <summary>An event published through the fake sidecar.</summary>
/// <param name="ExpiresAt">The CloudEvent's <c>expiration</c>, stamped by daprd from the <c>ttlInSeconds</c> metadata at publish.</param>
public sealed record PublishedEvent(string PubSubName, string Topic, byte[] Data, string ContentType, DateTimeOffset? ExpiresAt = null);
