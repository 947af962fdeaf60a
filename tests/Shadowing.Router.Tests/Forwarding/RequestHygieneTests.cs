using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shadowing.Core.Routing;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;

namespace Shadowing.Router.Tests.Forwarding;

/// <summary>
/// What a black-box probe of the router got through (the security-hardening issue's findings), each kept under test:
/// headers for this hop only, path fidelity for encoded slashes, methods that are not forwarded, oversize bodies refused
/// before an endpoint is contacted, and one reason for a 503 in its body and its metric.
/// </summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class RequestHygieneTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HeadersNamedInConnection_AndClientShadowingHeaders_DoNotReachTheEndpoint()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items", UriKind.Relative));
        request.Headers.Add("X-Secret", "s3cr3t");
        request.Headers.Connection.Add("X-Secret");
        request.Headers.Add("x-shadowing-route", "production");
        request.Headers.Add("X-Shadowing-Endpoint", "p1");
        request.Headers.Add("X-Keep", "kept");
        request.Headers.Connection.Add("X-Forwarded-For"); // the router's own: not the client's to remove

        using var response = await router.Client.SendAsync(request, Ct);

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
        var received = Assert.Single(p1.Received).Headers;
        Assert.Equal("kept", received["X-Keep"]);
        Assert.False(received.ContainsKey("X-Secret"), "a header named in Connection is for this hop only");
        Assert.DoesNotContain(received.Keys, k => k.StartsWith("x-shadowing-", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("127.0.0.1", received["X-Forwarded-For"]);
    }

    [Fact]
    public async Task HeadersTheEndpointNamedInConnection_DoNotReachTheClient()
    {
        // Kestrel writes its own Connection header, so the endpoint is a raw HTTP/1.1 responder, as nginx or Node may answer.
        using var p1 = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        p1.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var answering = Task.Run(async () =>
        {
            while (true)
            {
                using var client = await p1.AcceptTcpClientAsync(stop.Token);
                var stream = client.GetStream();
                var received = new List<byte>();
                var buffer = new byte[4096];
                while (!System.Text.Encoding.ASCII.GetString([.. received]).Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(buffer, stop.Token);
                    if (read == 0)
                    {
                        break;
                    }

                    received.AddRange(buffer.AsSpan(0, read));
                }

                var answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Upstream-Debug: node-7 internal\r\nX-Keep: kept\r\nConnection: close, X-Upstream-Debug\r\n\r\n{}";
                await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(answer), stop.Token);
            }
        }, stop.Token);
        var address = $"http://127.0.0.1:{((IPEndPoint)p1.LocalEndpoint).Port}/";
        var table = Table.For("orders", []) with { Production = [new ProductionEndpoint { Id = "p1", Address = address, MaxConcurrency = 10 }] };
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });

        using var response = await router.Client.GetAsync(new Uri("/orders/items", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("kept", response.Headers.GetValues("X-Keep").Single());
        Assert.False(response.Headers.Contains("X-Upstream-Debug"), "a header named in Connection is for the hop to the router only");
        Assert.Equal("p1", response.Headers.GetValues("x-shadowing-endpoint").Single());
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => answering);
    }

    [Fact]
    public async Task EncodedSlash_ReachesTheEndpointAsSent_AndAnEncodedPercentStaysDifferent()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        var table = new RoutingTable
        {
            Service = "a",
            Production = [new ProductionEndpoint { Id = "p1", Address = p1.Address.ToString().TrimEnd('/') + "/base", MaxConcurrency = 10 }],
        };
        await using var router = await RouterHost.StartAsync([table]);

        var slash = await SendRawAsync(router, "GET", "/a/items/a%2Fb?x=1");
        var percent = await SendRawAsync(router, "GET", "/a/items/a%252Fb");
        var plain = await SendRawAsync(router, "GET", "/a/items/a/b");

        Assert.Equal((200, 200, 200), (slash, percent, plain));
        Assert.Equal(["/base/items/a%2Fb?x=1", "/base/items/a%252Fb", "/base/items/a/b"], p1.Received.Select(r => r.RawTarget).Where(t => t != "/base/healthz"));
    }

    [Fact]
    public async Task EncodedSlashWithDotSegmentsKestrelNormalised_IsNotForwardedRaw()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("a", [p1])]);

        // Kestrel decodes %2e and removes the dot segment; the raw target differs from what it routed, so the raw is not used.
        Assert.Equal(200, await SendRawAsync(router, "GET", "/a/x/%2e%2e/y%2Fz"));
        // Dot segments between encoded slashes: Kestrel leaves them, a server that decodes %2F first would climb out.
        Assert.Equal(200, await SendRawAsync(router, "GET", "/a/x/..%2F..%2Fadmin"));
        Assert.Equal(200, await SendRawAsync(router, "GET", "/a/x/%2E%2E%2F%2e/admin"));

        Assert.Equal(["/y%252Fz", "/x/..%252F..%252Fadmin", "/x/..%252F./admin"], p1.Received.Select(r => r.RawTarget).Where(t => t != "/healthz"));
    }

    [Fact]
    public async Task BackslashesInAnEscapedPath_DoNotLeaveTheEndpointsBasePath()
    {
        // The raw target is used for a path with escapes; .NET's Uri turns '\' into '/' and then removes dot segments.
        await using var p1 = await TestBackend.StartAsync("p1");
        var table = new RoutingTable
        {
            Service = "a",
            Production = [new ProductionEndpoint { Id = "p1", Address = p1.Address.ToString().TrimEnd('/') + "/base", MaxConcurrency = 10 }],
        };
        await using var router = await RouterHost.StartAsync([table]);

        // An encoded slash keeps a '%' in the path Kestrel routed, which is what makes the raw target a candidate.
        var status = await SendRawAsync(router, "GET", "/a/x%2Fy\\..\\..\\..\\admin");

        Assert.All(p1.Received.Select(r => r.RawTarget), t => Assert.StartsWith("/base/", t, StringComparison.Ordinal));
        Assert.Equal(200, status);
        Assert.Contains(p1.Received, r => r.RawTarget.StartsWith("/base/x%252Fy%5C", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("TRACE")]
    [InlineData("CONNECT")] // Kestrel passes an HTTP/1.1 CONNECT with an origin-form target to the app: the router refuses it
    public async Task TraceAndConnect_Are405ProblemJson_AndNothingIsForwarded(string method)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        var (status, head, body) = await ExchangeRawAsync(router, $"{method} /orders/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

        Assert.Equal(405, status);
        Assert.Contains("application/problem+json", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("method_not_allowed", JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString());
        Assert.Equal(0, p1.Requests);
    }

    [Fact]
    public async Task BodyLargerThanTheLimit_ByContentLength_Is413_BeforeAnyEndpointIsContacted()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        // Headers only: the 413 must come without the router waiting for (or reading) 50 MB.
        var (status, head, body) = await ExchangeRawAsync(router, "POST /orders/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 50000000\r\n\r\n");

        Assert.Equal(413, status);
        Assert.Contains("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("body_too_large", JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString());
        Assert.Equal(0, p1.Requests);
    }

    [Fact]
    public async Task SlowUploads_HoldAtMostTheirShareOfProductionSlots_SoOtherClientsStillReachProduction()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var fallback = await TestBackend.StartAsync("d");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], fallback: fallback, maxConcurrency: 4)]);
        const string Upload = "POST /orders/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n";

        // Uploads trickling at 600 B/s (well above Kestrel's minimum rate of 240 B/s even when a busy machine skips ticks,
        // half an hour for the body) would take all four
        // production slots; half the capacity (4 × MaxUploadingShare 0.5) may be uploading at once.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var uploads = new List<System.Net.Sockets.TcpClient>();
        var trickles = new List<Task>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var upload = await RawHttp.OpenAsync(router.Address, Upload, Ct);
                uploads.Add(upload);
                trickles.Add(TrickleAsync(upload.GetStream(), 60, stop.Token));
            }

            await Shadowing.TestUtilities.Time.Eventually.WaitUntilAsync(() => p1.InFlight == 2, "two uploads reach production", cancellationToken: Ct);
            var refused = new List<(int Status, string Head, string Body)>();
            for (var i = 0; i < 2; i++)
            {
                using var upload = await RawHttp.OpenAsync(router.Address, Upload, Ct);
                refused.Add(await RawHttp.ReadAnswerAsync(upload.GetStream(), Ct));
            }

            using var other = await router.Client.GetAsync(new Uri("/orders/items", UriKind.Relative), Ct);
            var answer = await Table.ReadAsync(other);

            Assert.All(refused, r => Assert.Equal((503, "uploads_saturated"), (r.Status, JsonDocument.Parse(r.Body).RootElement.GetProperty("reason").GetString())));
            Assert.Equal(("p1", "production"), (answer.Answer.Endpoint, answer.Route));
            Assert.Equal(0, fallback.Requests);
            Assert.Equal(2, p1.InFlight); // the admitted uploads go on
            Assert.Equal(2, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_refused_total", ("service", "orders"), ("reason", "uploads_saturated")));
        }
        finally
        {
            await stop.CancelAsync();
            uploads.ForEach(u => u.Dispose());
            await Task.WhenAll(trickles.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
    }

    [Fact]
    public async Task UploadStillArrivingAtTheDeadline_Is408_AndTheEndpointIsNotBlamed()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], new Dictionary<string, string?> { ["Router:Limits:BodyUploadTimeout"] = "00:00:01" });
        using var upload = await RawHttp.OpenAsync(router.Address, "POST /orders/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n", Ct);
        var stream = upload.GetStream();

        // 1,000 B/s: well above Kestrel's minimum rate, so only the deadline can stop it.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var trickle = TrickleAsync(stream, 100, stop.Token);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30), TimeProvider.System); // without a deadline, the body would take 1,000 s
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(Ct, patience.Token);
        var (status, head, body) = await RawHttp.ReadAnswerAsync(stream, bounded.Token);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => trickle); // stopped, or cut off by the router's close

        Assert.Equal(408, status);
        Assert.Contains("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("upload_timeout", JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString());
        Assert.True(await router.IsAvailableAsync("p1"), "a client's slow upload is not the endpoint's failure");
        var metrics = await router.MetricsAsync();
        Assert.Equal(1, PrometheusText.Value(metrics, "shadowing_router_refused_total", ("service", "orders"), ("reason", "upload_timeout")));
        Assert.DoesNotContain("shadowing_router_errors_total{", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthDetailsAndMetrics_WithAnAdminToken_AreForItsBearersOnly()
    {
        const string Token = "admin-token-0123456789";
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], new Dictionary<string, string?> { ["Router:AdminToken"] = Token });

        var (health, healthStatus) = await GetAsync(router, "/healthz", token: null);
        var (detailed, _) = await GetAsync(router, "/healthz", Token);
        var (_, wrongToken) = await GetAsync(router, "/metrics", "admin-token-0123456780");
        var (_, metricsStatus) = await GetAsync(router, "/metrics", token: null);
        var (metrics, adminMetrics) = await GetAsync(router, "/metrics", Token);

        Assert.Equal((200, "{\"status\":\"Healthy\"}"), (healthStatus, health));
        Assert.Contains(p1.Address.ToString().TrimEnd('/'), detailed, StringComparison.Ordinal);
        Assert.Equal((401, 401, 200), (wrongToken, metricsStatus, adminMetrics));
        Assert.Contains("shadowing_router_", metrics, StringComparison.Ordinal);
        Assert.Contains("service_name=\"shadowing-router\"", metrics, StringComparison.Ordinal); // was unknown_service:exe
    }

    [Theory]
    [InlineData("X-Forwarded-For", "203.0.113.7")] // a proxy on the same host passed it on
    [InlineData("X-Original-For", "203.0.113.7:51000")] // forwarded-headers middleware took X-Forwarded-For: 127.0.0.1 as the peer
    [InlineData("dapr-caller-app-id", "frontend")] // daprd invoked the router for another app
    [InlineData("X-Forwarded-Client-Cert", "By=spiffe://cluster.local/ns/a/sa/b")] // Istio's sidecar under mTLS
    [InlineData("l5d-client-id", "web.default.serviceaccount.identity.linkerd.cluster.local")] // Linkerd's
    [InlineData("Via", "1.1 proxy")] // any HTTP proxy
    public async Task HealthDetailsAndMetrics_WithoutAToken_AreForDirectLoopbackCallersOnly(string header, string value)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        var (health, _) = await GetAsync(router, "/healthz", token: null, (header, value));
        var (_, metrics) = await GetAsync(router, "/metrics", token: null, (header, value));
        var (direct, _) = await GetAsync(router, "/healthz", token: null);

        Assert.Equal("{\"status\":\"Healthy\"}", health);
        Assert.Equal(401, metrics);
        Assert.Contains(p1.Address.ToString().TrimEnd('/'), direct, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthDetailsAndMetrics_WithoutAToken_AreNotForTheRestOfLoopback_WhereIstiosSidecarConnectsFrom()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);
        using var fromSidecar = new HttpClient(new SocketsHttpHandler
        {
            // Istio passes inbound requests on to the app from 127.0.0.6, with none of the forwarding headers.
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.6"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        }) { BaseAddress = router.Address };

        using var health = await fromSidecar.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
        using var metrics = await fromSidecar.GetAsync(new Uri("/metrics", UriKind.Relative), Ct);

        Assert.Equal("{\"status\":\"Healthy\"}", await health.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, metrics.StatusCode);
    }

    [Fact]
    public async Task NoEndpoint503_GivesTheSameReasonInItsBodyAndItsMetric()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], maxConcurrency: 1)]);
        p1.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = router.Client.GetAsync(new Uri("/orders/a", UriKind.Relative), Ct);
        await Shadowing.TestUtilities.Time.Eventually.WaitUntilAsync(() => p1.InFlight == 1, "the only slot is taken", cancellationToken: Ct);

        using var rejected = await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct);
        var reason = (await rejected.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("reason").GetString();
        p1.Gate.SetResult();
        (await held).Dispose();

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "overloaded"), (rejected.StatusCode, reason));
        Assert.Equal(1, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "none"), ("reason", reason!)));
    }

    private static async Task<(string Body, int Status)> GetAsync(RouterHost router, string path, string? token, (string Name, string Value)? header = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (token is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        if (header is { } h)
        {
            request.Headers.Add(h.Name, h.Value);
        }

        using var response = await router.Client.SendAsync(request, Ct);
        return (await response.Content.ReadAsStringAsync(Ct), (int)response.StatusCode);
    }

    /// <summary>Sends <paramref name="bytes"/> body bytes every 100 ms until stopped or cut off.</summary>
    private static Task TrickleAsync(Stream stream, int bytes, CancellationToken cancellationToken) => Task.Run(
        async () =>
        {
            var chunk = new byte[bytes];
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100), TimeProvider.System);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await stream.WriteAsync(chunk, cancellationToken);
            }
        },
        cancellationToken);

    private static async Task<int> SendRawAsync(RouterHost router, string method, string target) =>
        (await ExchangeRawAsync(router, $"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")).Status;

    private static Task<(int Status, string Head, string Body)> ExchangeRawAsync(RouterHost router, string request) =>
        RawHttp.ExchangeAsync(router.Address, request, Ct);
}
