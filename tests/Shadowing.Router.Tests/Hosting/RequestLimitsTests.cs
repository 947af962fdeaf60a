using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Router.Tests.Hosting;

/// <summary>
/// The router's Kestrel limits, set deliberately (Router:Limits), and the request-smuggling probes it must refuse
/// before anything is forwarded: each probe is answered with a 4xx and the endpoint never sees a request.
/// </summary>
public sealed class RequestLimitsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, string, int> Probes => new()
    {
        { "two different Content-Lengths", "POST /orders/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 30\r\nConnection: close\r\n\r\nhello", 400 },
        { "Transfer-Encoding not ending in chunked", "POST /orders/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\nConnection: close\r\n\r\n0\r\n\r\n", 400 },
        { "obsolete line folding", "GET /orders/x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n", 400 },
        { "bare LF ending a header line", "GET /orders/x HTTP/1.1\r\nHost: x\nX-A: 1\r\nConnection: close\r\n\r\n", 400 },
        { "bare LF in a chunk extension", "POST /orders/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext\nab\r\nhello\r\n0\r\n\r\n", 400 },
        { "space before the colon", "GET /orders/x HTTP/1.1\r\nHost: x\r\nX-A : 1\r\nConnection: close\r\n\r\n", 400 },
        { "request line too long", "GET /orders/" + new string('a', 9000) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414 },
        { "too many headers", "GET /orders/x HTTP/1.1\r\nHost: x\r\n" + string.Concat(Enumerable.Range(0, 120).Select(i => $"X-H{i}: v\r\n")) + "Connection: close\r\n\r\n", 431 },
        { "headers too large", "GET /orders/x HTTP/1.1\r\nHost: x\r\nX-Big: " + new string('b', 40_000) + "\r\nConnection: close\r\n\r\n", 431 },
        { "no Host", "GET /orders/x HTTP/1.1\r\nConnection: close\r\n\r\n", 400 },
        { "two Hosts", "GET /orders/x HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n", 400 },
    };

    [Fact]
    public async Task ContentLengthWithTransferEncoding_IsReadAsChunked_AndTheConnectionClosed_SoNothingIsSmuggled()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        // Kestrel drops the Content-Length (RFC 9112 §6.3: Transfer-Encoding wins) and must then close the connection
        // (§6.1), so the request hidden behind the empty chunked body is never read as a second one.
        var (status, head, body) = await RawHttp.ExchangeAsync(
            router.Address,
            "POST /orders/x HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /orders/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
            Ct);

        Assert.Equal(200, status);
        Assert.Contains("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("HTTP/1.1", body, StringComparison.Ordinal); // one answer only
        var received = Assert.Single(p1.Received);
        Assert.Equal(("/x", string.Empty), (received.Path, received.Body));
    }

    [Theory]
    [MemberData(nameof(Probes))]
    public async Task SmugglingAndOversizeProbes_AreRefused_AndNothingIsForwarded(string probe, string request, int expected)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        var (status, _, _) = await RawHttp.ExchangeAsync(router.Address, request, Ct);

        Assert.True(expected == status, $"{probe}: expected {expected}, got {status}");
        // A malformed chunked body is found while it streams, so the endpoint may see the request begin, never complete.
        Assert.Empty(p1.Received);
        if (!probe.Contains("chunk extension", StringComparison.Ordinal))
        {
            Assert.Equal(0, p1.Requests);
        }
    }
}
