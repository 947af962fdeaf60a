using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
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

    private static async Task<int> SendRawAsync(RouterHost router, string method, string target) =>
        (await ExchangeRawAsync(router, $"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")).Status;

    /// <summary>Sends <paramref name="request"/> byte for byte (HttpClient would normalise it) and reads the answer.</summary>
    private static async Task<(int Status, string Head, string Body)> ExchangeRawAsync(RouterHost router, string request)
    {
        var address = router.Client.BaseAddress!;
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port, Ct);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var head = new StringBuilder();
        string? line;
        while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(Ct)))
        {
            head.AppendLine(line);
        }

        // Every exchange here ends with the connection closed (the request or the router says so): read to the end.
        var rest = await reader.ReadToEndAsync(Ct);
        var chunked = head.ToString().Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
        var body = chunked ? Unchunk(rest) : rest;
        var status = head.ToString().Split(' ') is [_, var code, ..] && int.TryParse(code, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
        return (status, head.ToString(), body);
    }

    private static string Unchunk(string chunked)
    {
        var body = new StringBuilder();
        var at = 0;
        while (at < chunked.Length)
        {
            var end = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = int.Parse(chunked[at..end], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }

            body.Append(chunked, end + 2, size);
            at = end + 2 + size + 2;
        }

        return body.ToString();
    }
}
