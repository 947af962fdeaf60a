using System.Collections.Concurrent;
using System.Net;
using Dapr.Client;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.TestUtilities.Dapr;

/// <summary>
/// A Dapr sidecar on loopback for contract tests: gRPC (h2c) serving the state and pub/sub methods of
/// <c>dapr.proto.runtime.v1.Dapr</c> from the public Dapr.Protos message types, and HTTP serving service
/// invocation by <c>dapr-app-id</c> header or <c>/v1.0/invoke/{app}/method/…</c>. The real <see cref="DaprClient"/>
/// talks to it over the wire, so the adapters are tested against Dapr's actual wire behaviour:
/// ETag mismatches answer <c>Aborted</c> for single operations and <c>Internal</c> "possible etag mismatch"
/// for transactions, like daprd.
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

    /// <summary>The sidecar's state store, pub/sub record and fault switch.</summary>
    public FakeDaprState State { get; }

    /// <summary>gRPC endpoint, for <c>DAPR_GRPC_ENDPOINT</c> or <see cref="DaprClientBuilder.UseGrpcEndpoint"/>.</summary>
    public string GrpcEndpoint { get; private set; } = string.Empty;

    /// <summary>HTTP endpoint, for <c>DAPR_HTTP_ENDPOINT</c>.</summary>
    public string HttpEndpoint { get; private set; } = string.Empty;

    /// <summary>The HTTP port, for <c>DAPR_HTTP_PORT</c>.</summary>
    public int HttpPort => new Uri(HttpEndpoint).Port;

    /// <summary>Starts a sidecar on ephemeral loopback ports.</summary>
    public static async Task<FakeDaprSidecar> StartAsync()
    {
        var state = new FakeDaprState();
        var grpc = await LoopbackApp.StartAsync(
            builder =>
            {
                builder.Services.AddGrpc();
                builder.Services.AddSingleton(state);
                builder.Services.AddSingleton<Grpc.AspNetCore.Server.Model.IServiceMethodProvider<FakeDaprService>, FakeDaprService.MethodProvider>();
            },
            app => app.MapGrpcService<FakeDaprService>(),
            http2Only: true).ConfigureAwait(false);
        var http = await LoopbackApp.StartAsync(null, app => app.Run(context => Invoke(context, state))).ConfigureAwait(false);
        return new FakeDaprSidecar(grpc, http, state)
        {
            GrpcEndpoint = LoopbackApp.AddressOf(grpc).ToString().TrimEnd('/'),
            HttpEndpoint = LoopbackApp.AddressOf(http).ToString().TrimEnd('/'),
        };
    }

    /// <summary>Service invocation: <c>/v1.0/invoke/{app}/method/{path}</c>, or any path with a <c>dapr-app-id</c> header.</summary>
    private static Task Invoke(HttpContext context, FakeDaprState state)
    {
        var path = context.Request.Path.Value ?? "/";
        const string prefix = "/v1.0/invoke/";
        if (path.StartsWith(prefix, StringComparison.Ordinal) && path.IndexOf("/method/", StringComparison.Ordinal) is var method and > 0)
        {
            return state.InvokeAsync(context, path[prefix.Length..method], path[(method + "/method".Length)..]);
        }

        return context.Request.Headers.TryGetValue("dapr-app-id", out var appId)
            ? state.InvokeAsync(context, appId.ToString(), path)
            : Results.NotFound().ExecuteAsync(context);
    }

    /// <summary>A real <see cref="DaprClient"/> wired to this sidecar.</summary>
    public DaprClient CreateClient() => new DaprClientBuilder().UseGrpcEndpoint(GrpcEndpoint).UseHttpEndpoint(HttpEndpoint).Build();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _grpc.DisposeAsync().ConfigureAwait(false);
        await _http.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>What the fake sidecar holds: state entries, published events, invocable apps and a fault switch.</summary>
public sealed class FakeDaprState
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (byte[] Value, long ETag)> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Func<HttpContext, string, Task>> _apps = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Uri> _subscriptions = new(StringComparer.Ordinal);
    private readonly HttpClient _delivery = new();
    private long _etag;

    /// <summary>Deliveries that the subscriber never accepted after <see cref="MaxDeliveryAttempts"/> tries.</summary>
    public ConcurrentQueue<PublishedEvent> DeadLettered { get; } = new();

    /// <summary>Delivery attempts per message before dead-lettering, like a Dapr resiliency retry policy. Default 5.</summary>
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>Declares a subscription like <c>components/subscriptions.yaml</c>: events on <paramref name="topic"/> are POSTed as CloudEvents to <paramref name="route"/>.</summary>
    public void Subscribe(string topic, Uri route) => _subscriptions[topic] = route;

    /// <summary>Events published through the sidecar, in order.</summary>
    public ConcurrentQueue<PublishedEvent> Published { get; } = new();

    /// <summary>
    /// When set, called with the gRPC method name (for example <c>GetState</c>) before each call; a returned
    /// <see cref="RpcException"/> fails the call, as a broken state store behind daprd would.
    /// </summary>
    public Func<string, RpcException?>? Fault { get; set; }

    /// <summary>Number of gRPC calls served, by method name.</summary>
    public ConcurrentDictionary<string, int> Calls { get; } = new(StringComparer.Ordinal);

    /// <summary>Keys currently stored (including adapter-internal ones).</summary>
    public IReadOnlyList<string> Keys
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Registers an app reachable by service invocation; the handler gets the method path.</summary>
    public void MapApp(string appId, Func<HttpContext, string, Task> handler) => _apps[appId] = handler;

    internal Task InvokeAsync(HttpContext context, string appId, string path) =>
        _apps.TryGetValue(appId, out var handler)
            ? handler(context, path)
            : Results.Problem(statusCode: 500, detail: $"fake sidecar: no app '{appId}'").ExecuteAsync(context);

    internal void Deliver(PublishedEvent published)
    {
        if (_subscriptions.TryGetValue(published.Topic, out var route))
        {
            _ = DeliverAsync(published, route);
        }
    }

    internal void CheckFault(string method)
    {
        Calls.AddOrUpdate(method, 1, (_, n) => n + 1);
        if (Fault?.Invoke(method) is { } error)
        {
            throw error;
        }
    }

    internal (byte[] Value, string ETag)? Get(string key)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(key, out var entry) ? (entry.Value, entry.ETag.ToString(System.Globalization.CultureInfo.InvariantCulture)) : null;
        }
    }

    /// <summary>Applies writes atomically; returns the key whose ETag (or first-write) check failed, or null.</summary>
    internal string? Apply(IReadOnlyList<Write> writes)
    {
        lock (_lock)
        {
            foreach (var write in writes)
            {
                var exists = _entries.TryGetValue(write.Key, out var current);
                if (write.ETag is { Length: > 0 } etag)
                {
                    if (!exists || current.ETag.ToString(System.Globalization.CultureInfo.InvariantCulture) != etag)
                    {
                        return write.Key;
                    }
                }
                else if (write.FirstWrite && exists)
                {
                    return write.Key; // first-write without an ETag means create-if-absent
                }
            }

            foreach (var write in writes)
            {
                if (write.Value is null)
                {
                    _entries.Remove(write.Key);
                }
                else
                {
                    _entries[write.Key] = (write.Value, ++_etag);
                }
            }

            return null;
        }
    }

    private async Task DeliverAsync(PublishedEvent published, Uri route)
    {
        var envelope = new System.Text.Json.Nodes.JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = Guid.NewGuid().ToString(),
            ["source"] = "fake-sidecar",
            ["type"] = "com.dapr.event.sent",
            ["topic"] = published.Topic,
            ["pubsubname"] = published.PubSubName,
            ["datacontenttype"] = published.ContentType,
            ["data"] = System.Text.Json.Nodes.JsonNode.Parse(published.Data),
        };
        for (var attempt = 1; attempt <= MaxDeliveryAttempts; attempt++)
        {
            try
            {
                using var content = new StringContent(envelope.ToJsonString(), System.Text.Encoding.UTF8, "application/cloudevents+json");
                using var response = await _delivery.PostAsync(route, content).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound || (response.IsSuccessStatusCode && !body.Contains("RETRY", StringComparison.Ordinal)))
                {
                    return; // SUCCESS, DROP or 404: daprd does not retry these.
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System).ConfigureAwait(false);
        }

        DeadLettered.Enqueue(published);
    }

    internal sealed record Write(string Key, byte[]? Value, string? ETag, bool FirstWrite);
}

/// <summary>An event published through the fake sidecar.</summary>
public sealed record PublishedEvent(string PubSubName, string Topic, byte[] Data, string ContentType);
