using System.Text;
using CsCheck;
using Shadowing.TestUtilities.BadInput;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Router.Tests.Forwarding;

/// <summary>
/// The bad-input sweep over the data plane: generated methods, paths, headers and bodies sent byte for byte to a
/// running router. Each gets an answer that is not a 5xx of the router's making (the endpoint is healthy), and the
/// router still routes afterwards.
/// </summary>
public sealed class RouterBadInputTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Gen<string> Method { get; } = Gen.Frequency((4, Gen.OneOf("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT")), (1, BadInputSweep.NastyString.Where(s => s.Length < 50)));

    private static Gen<string> PathText { get; } = Gen.Frequency(
        (3, Gen.Char["abc/%2F.;?#&=+~ 09%00%2e%25%C0%AF\\"].Array[0, 60].Select(c => new string(c))),
        (1, BadInputSweep.NastyString.Where(s => s.Length < 2000)));

    private static Gen<(string Name, string Value)> Header { get; } = Gen.Select(
        Gen.Frequency((3, Gen.OneOf("Content-Type", "Cookie", "Authorization", "Transfer-Encoding", "Content-Length", "Connection", "Host", "X-Forwarded-For", "x-shadowing-route", "dapr-app-id", "Expect", "Upgrade", "TE", "Forwarded")), (2, BadInputSweep.NastyString.Where(s => s.Length < 100))),
        BadInputSweep.NastyString.Where(s => s.Length < 1000));

    [Fact]
    public async Task GeneratedRequests_AreAnsweredWithoutA5xxOfTheRoutersMaking_AndTheRouterStillRoutes()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        await BadInputSweep.RunAsync(
            "data plane",
            Gen.Select(Method, PathText, Header.Array[0, 5], BadInputSweep.NastyString.Where(s => s.Length < 5000)),
            async input =>
            {
                var (method, path, headers, body) = input;
                var bytes = Encoding.UTF8.GetByteCount(body);
                var request = new StringBuilder($"{method} /orders/{path} HTTP/1.1\r\nHost: x\r\n");
                foreach (var (name, value) in headers)
                {
                    request.Append(name).Append(": ").Append(value).Append("\r\n");
                }

                request.Append($"Content-Length: {bytes}\r\nConnection: close\r\n\r\n").Append(body);
                var (status, _, answer) = await RawHttp.ExchangeAsync(router.Address, request.ToString(), Ct);

                Assert.True(status is >= 200 and < 500, $"status {status}: {answer}");
            },
            output);

        using var after = await router.Client.GetAsync(new Uri("/orders/after", UriKind.Relative), Ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, after.StatusCode);
    }
}
