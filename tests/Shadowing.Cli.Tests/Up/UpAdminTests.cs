using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shadowing.Cli.Up;
using Shadowing.Control;
using Shadowing.Control.Workflows;
using Shadowing.Core.Messaging;
using Shadowing.TestUtilities.State;

namespace Shadowing.Cli.Tests.Up;

/// <summary>up's admin listener against a browser: loopback names only, no cross-site Origin (CSRF, DNS rebinding).</summary>
public sealed class UpAdminTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(null, null, HttpStatusCode.OK)]
    [InlineData("localhost", null, HttpStatusCode.OK)]
    [InlineData("attacker.example", null, HttpStatusCode.Forbidden)] // a rebound DNS name pointing at 127.0.0.1
    [InlineData(null, "https://attacker.example", HttpStatusCode.Forbidden)] // a cross-site page posting to 127.0.0.1
    [InlineData(null, "http://127.0.0.1:5081", HttpStatusCode.OK)]
    public async Task Requests_FromOtherSites_AreRefused(string? host, string? origin, HttpStatusCode expected)
    {
        await using var provider = new ServiceCollection()
            .AddLogging()
            .AddSingleton(new ControlApi(new InMemoryStateStore(), Substitute.For<IEventBus>(), Substitute.For<IWorkflowControl>(), TimeProvider.System))
            .BuildServiceProvider();
        await using var admin = await UpAdmin.StartAsync(provider, "http://127.0.0.1:0", Ct);
        using var http = new HttpClient { BaseAddress = new Uri(UpAdmin.AddressOf(admin)) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/routing", UriKind.Relative));
        if (host is not null)
        {
            request.Headers.Host = host;
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task ABodyOverKestrelsLimit_Is413_NotAnInternalError()
    {
        await using var provider = new ServiceCollection()
            .AddLogging()
            .AddSingleton(new ControlApi(new InMemoryStateStore(), Substitute.For<IEventBus>(), Substitute.For<IWorkflowControl>(), TimeProvider.System))
            .BuildServiceProvider();
        await using var admin = await UpAdmin.StartAsync(provider, "http://127.0.0.1:0", Ct);
        var address = new Uri(UpAdmin.AddressOf(admin));
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(address.Host, address.Port, Ct);
        var stream = client.GetStream();

        // Declared over Kestrel's 30 MB default and never sent: the endpoint's read is what fails.
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"PUT /api/services/orders/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\n["), Ct);
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer, Ct);

        Assert.StartsWith("HTTP/1.1 413", System.Text.Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
    }
}
