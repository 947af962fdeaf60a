using System.Net.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shadowing.Router.Hosting;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Router.Tests.Hosting;

/// <summary>
/// The router's logging defaults keep ASP.NET Core from starting an activity per request (its hosting diagnostics
/// start one while their log category is enabled at any level): the forwarded request then carries the client's
/// trace context as sent, or none. Configuration can switch the category back on, and with it the router's span.
/// Nothing in this assembly listens to activities; a test that adds an <c>ActivityListener</c> would make ASP.NET
/// Core start them here too, so it would have to run apart from these.
/// </summary>
public sealed class ShadowingLoggingTests
{
    private const string ClientTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    private static readonly Dictionary<string, string?> Quiet = new() { ["Logging:LogLevel:Default"] = "Warning" };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Verbose_LogsShadowingAtDebug_EvenUnderAConfigurationAddedAfterIt(bool verbose, bool debug)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings { Args = [] });
        builder.AddShadowingLogging(verbose);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> // as up's --config file, added after
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Shadowing"] = "Information",
        });
        using var host = builder.Build();
        var loggers = host.Services.GetRequiredService<ILoggerFactory>();

        Assert.Equal(debug, loggers.CreateLogger("Shadowing.Router.Forwarding").IsEnabled(LogLevel.Debug));
        Assert.Equal(debug, loggers.CreateLogger("Contoso.Orders").IsEnabled(LogLevel.Information)); // a category no default names
    }

    [Fact]
    public async Task ByDefault_TheForwardedRequestCarriesTheClientsTraceContextUnchanged_OrNone()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], Quiet, shadowingLogging: true);

        var (plain, traced) = await SendPairAsync(router, p1);

        Assert.False(plain.ContainsKey("traceparent"), $"the router added a traceparent: {plain.GetValueOrDefault("traceparent")}");
        Assert.Equal(ClientTrace, traced["traceparent"]);
    }

    [Fact]
    public async Task WithHostingDiagnosticsLoggingOn_TheRouterStartsItsOwnSpanInTheClientsTrace()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync(
            [Table.For("orders", [p1])],
            new Dictionary<string, string?>(Quiet) { ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Warning" },
            shadowingLogging: true);

        var (plain, traced) = await SendPairAsync(router, p1);

        Assert.True(plain.ContainsKey("traceparent"), "no traceparent: the router started no activity");
        var parts = traced["traceparent"].Split('-');
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", parts[1]);
        Assert.NotEqual("b7ad6b7169203331", parts[2]);
    }

    /// <summary>Sends one request without and one with a traceparent; returns the headers the endpoint received for each.</summary>
    private static async Task<(IReadOnlyDictionary<string, string> Plain, IReadOnlyDictionary<string, string> Traced)> SendPairAsync(RouterHost router, TestBackend backend)
    {
        // This client adds no trace context of its own, whatever listens to activities in the test process.
        using var client = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = router.Address };
        using (var plain = await client.GetAsync(new Uri("/orders/plain", UriKind.Relative), Ct))
        {
            plain.EnsureSuccessStatusCode();
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/traced", UriKind.Relative));
        request.Headers.TryAddWithoutValidation("traceparent", ClientTrace);
        using (var traced = await client.SendAsync(request, Ct))
        {
            traced.EnsureSuccessStatusCode();
        }

        var received = backend.Received.ToArray();
        return (received.Single(r => r.Path == "/plain").Headers, received.Single(r => r.Path == "/traced").Headers);
    }
}
