using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Forwarding;

/// <summary>
/// <c>dapr://app-id</c> endpoints through a fake sidecar that routes like daprd (its own API first, invocation as
/// the fallback) and records every call: what a client sends never reaches the sidecar's own API, and tokens are
/// sent and required as daprd expects.
/// </summary>
public sealed class DaprEndpointTests
{
    private const string SidecarToken = "sidecar-secret";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Request_ToDaprEndpoint_GoesThroughTheInvokeApiToTheAppsMethod()
    {
        await using var sidecar = await StartSidecarAsync();
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-api/v2");
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items?x=1", UriKind.Relative));
        request.Headers.Add("dapr-app-id", "somebody-else");
        request.Headers.Add("Dapr-Caller-App-Id", "forged");

        using var response = await router.Client.SendAsync(request, Ct);
        var answer = await response.Content.ReadFromJsonAsync<AppAnswer>(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/v2/items", answer!.Method);
        Assert.Equal("?x=1", answer.Query);
        var call = Assert.Single(sidecar.State.HttpCalls, c => c.Path.Contains("items", StringComparison.Ordinal));
        Assert.Equal("/v1.0/invoke/orders-api/method/v2/items", call.Path);
        Assert.Equal("invoke", call.Kind);
        Assert.DoesNotContain("dapr-app-id", call.Headers.Keys);
        Assert.DoesNotContain("dapr-caller-app-id", call.Headers.Keys);
    }

    /// <summary>Request targets as a client can write them on the wire, each aimed at daprd's own API.</summary>
    public static TheoryData<string, string> CraftedTargets => new()
    {
        { "POST", "/orders/v1.0/shutdown" },
        { "GET", "/orders/v1.0/state/statestore/routing%2Forders" },
        { "GET", "/orders/v1.0/metadata" },
        { "POST", "/orders/v1.0-alpha1/workflows/dapr/x/terminate" },
        { "POST", "/orders/v1.0/publish/pubsub/routing-changed" },
        { "POST", "/orders/../v1.0/shutdown" },
        { "POST", "/orders/%2E%2E/v1.0/shutdown" },
        { "POST", "/orders/%2e%2e%2fv1.0%2fshutdown" },
        { "POST", "/orders/..%2F..%2Fv1.0%2Fshutdown" },
        { "POST", "/orders/x/..%5C..%5Cv1.0%5Cshutdown" },
        { "POST", "/orders/./v1.0/shutdown" },
        { "POST", "/orders//v1.0/shutdown" },
    };

    [Theory]
    [MemberData(nameof(CraftedTargets))]
    public async Task CraftedPath_NeverReachesTheSidecarsOwnApi(string method, string target)
    {
        await using var sidecar = await StartSidecarAsync();
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-api");
        var probes = sidecar.State.HttpCalls.Count;

        var status = await SendRawAsync(router.Address, method, target);

        var calls = sidecar.State.HttpCalls.Skip(probes).Where(c => !c.Path.EndsWith("/healthz", StringComparison.Ordinal)).ToArray();
        Assert.All(calls, c =>
        {
            Assert.Equal("invoke", c.Kind);
            Assert.StartsWith("/v1.0/invoke/orders-api/method/", c.Path, StringComparison.Ordinal);
        });
        Assert.DoesNotContain(sidecar.State.HttpCalls, c => c.Kind == "api");
        Assert.True(status is 200 or 400 or 404, $"status {status}");
        Assert.All(sidecar.State.Invocations, i => Assert.Equal("orders-api", i.AppId));
    }

    [Fact]
    public async Task SidecarToken_SentOnForwardsAndProbes_AndAClientsTokenReplaced()
    {
        await using var sidecar = await StartSidecarAsync();
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-api");
        await Eventually.WaitUntilAsync(() => sidecar.State.HttpCalls.Any(c => c.Path.EndsWith("/healthz", StringComparison.Ordinal)), "a probe reached the app", cancellationToken: Ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items", UriKind.Relative));
        request.Headers.Add("dapr-api-token", "guessed");

        using var response = await router.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(sidecar.State.HttpCalls, c => c.Kind == "unauthorized");
        Assert.All(sidecar.State.HttpCalls, c => Assert.Equal(SidecarToken, c.Headers["dapr-api-token"]));
        Assert.True(await router.IsAvailableAsync("p1"));
    }

    [Fact]
    public async Task SidecarToken_NotConfigured_SidecarRefusesAndTheEndpointIsUnavailable()
    {
        // The check the previous test relies on: without the router's token daprd answers 401.
        await using var sidecar = await StartSidecarAsync();
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-api", token: null);

        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p1"), "probes without a token fail", cancellationToken: Ct);
        Assert.Contains(sidecar.State.HttpCalls, c => c.Kind == "unauthorized");
    }

    [Theory]
    [InlineData(true, null, HttpStatusCode.Unauthorized)]
    [InlineData(true, "wrong", HttpStatusCode.Unauthorized)]
    [InlineData(true, "app-secret", HttpStatusCode.OK)]
    [InlineData(false, null, HttpStatusCode.OK)]
    public async Task AppToken_RequiredOnServiceRoutesOnlyWhenDaprInvocationOnly(bool daprOnly, string? sent, HttpStatusCode expected)
    {
        await using var sidecar = await StartSidecarAsync();
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-api", extra: new Dictionary<string, string?>
        {
            ["APP_API_TOKEN"] = "app-secret",
            ["Router:DaprInvocationOnly"] = daprOnly.ToString(CultureInfo.InvariantCulture),
        });
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items", UriKind.Relative));
        if (sent is not null)
        {
            request.Headers.Add("dapr-api-token", sent);
        }

        using var response = await router.Client.SendAsync(request, Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task AppDown_DaprdsOwnError_IsFailedOverToAPreWarmedShadow()
    {
        // daprd answers 500 ERR_DIRECT_INVOKE when it cannot reach the app: the request never got there, so it is
        // retried like a refused connection, and the client never sees daprd's error.
        await using var sidecar = await StartSidecarAsync();
        using var down = new RefusingPort();
        sidecar.State.MapAppAt("orders-down", down.Address);
        sidecar.State.MapApp("orders-shadow", (context, method) => method.EndsWith("/healthz", StringComparison.Ordinal) ? Task.CompletedTask : context.Response.WriteAsync("from the shadow"));
        await using var router = await RouterHost.StartAsync(
            [new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "dapr://orders-down", MaxConcurrency = 10 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "dapr://orders-shadow", State = ShadowState.PreWarmed }],
            }],
            Settings(sidecar, SidecarToken, extra: new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" }));

        using var response = await router.Client.GetAsync(new Uri("/orders/items/1", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("from the shadow", await response.Content.ReadAsStringAsync(Ct));
        Assert.Contains(sidecar.State.Invocations, i => i.AppId == "orders-down" && i.Method == "/items/1");
    }

    [Fact]
    public async Task ADefaultWhoseAppIsDown_ProbedThroughDaprd_IsUnhealthy_NotTakenForABusyPage()
    {
        // Any answer of a default's own keeps it in (a busy page's 503); daprd's 500 for an app it cannot reach is none.
        await using var sidecar = await StartSidecarAsync();
        using var down = new RefusingPort();
        sidecar.State.MapAppAt("orders-down", down.Address);
        await using var router = await RouterHost.StartAsync(
            [new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "dapr://orders-api", MaxConcurrency = 10 }],
                Default = new DefaultEndpoint { Id = "d1", Address = "dapr://orders-down" },
            }],
            Settings(sidecar, SidecarToken));

        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("d1"), "probes through daprd find the default's app down", cancellationToken: Ct);
    }

    [Fact]
    public async Task AppDown_NoOtherEndpoint_Answers502WithoutDaprdsError()
    {
        await using var sidecar = await StartSidecarAsync();
        using var down = new RefusingPort();
        sidecar.State.MapAppAt("orders-down", down.Address);
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-down", extra: new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });

        using var response = await router.Client.GetAsync(new Uri("/orders/items/1", UriKind.Relative), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("forwarding-failed", body, StringComparison.Ordinal);
        Assert.DoesNotContain("ERR_DIRECT_INVOKE", body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("application/json", "{\"errorCode\":\"ORDER_REJECTED\",\"message\":\"out of stock\"}")]
    [InlineData("application/json", "{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke, id: x, err: y\",\"orderId\":7}")]
    [InlineData("text/plain", "{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke, id: x, err: y\"}")]
    public async Task AppsOwn500_IsPassedOnAsTheAppSentIt(string contentType, string appBody)
    {
        await using var sidecar = await StartSidecarAsync();
        sidecar.State.MapApp("orders-api", (context, method) =>
        {
            if (method.EndsWith("/healthz", StringComparison.Ordinal))
            {
                return Task.CompletedTask;
            }

            // Sized, as daprd relays an app's answer (respondWithHTTPRawResponse), so the router reads it before relaying it.
            var bytes = System.Text.Encoding.UTF8.GetBytes(appBody);
            context.Response.StatusCode = 500;
            context.Response.ContentType = contentType;
            context.Response.ContentLength = bytes.Length;
            return context.Response.Body.WriteAsync(bytes).AsTask();
        });
        await using var router = await StartRouterAsync(sidecar, "dapr://orders-api");

        using var response = await router.Client.GetAsync(new Uri("/orders/items/1", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal(appBody, await response.Content.ReadAsStringAsync(Ct));
    }

    private static async Task<FakeDaprSidecar> StartSidecarAsync()
    {
        var sidecar = await FakeDaprSidecar.StartAsync(apiToken: SidecarToken);
        sidecar.State.MapApp("orders-api", (context, method) =>
            method.EndsWith("/healthz", StringComparison.Ordinal)
                ? Task.CompletedTask
                : context.Response.WriteAsJsonAsync(new AppAnswer(method, context.Request.QueryString.Value)));
        return sidecar;
    }

    private static Task<RouterHost> StartRouterAsync(FakeDaprSidecar sidecar, string address, string? token = SidecarToken, IReadOnlyDictionary<string, string?>? extra = null) =>
        RouterHost.StartAsync([new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = address, MaxConcurrency = 10 }] }], Settings(sidecar, token, extra));

    private static Dictionary<string, string?> Settings(FakeDaprSidecar sidecar, string? token, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["DAPR_HTTP_PORT"] = sidecar.HttpPort.ToString(CultureInfo.InvariantCulture),
            ["DAPR_API_TOKEN"] = token,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Sends <paramref name="target"/> byte for byte (HttpClient would normalise it) and returns the status code.</summary>
    private static async Task<int> SendRawAsync(Uri router, string method, string target)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(router.Host, router.Port, Ct);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var status = await reader.ReadLineAsync(Ct) ?? string.Empty;
        return int.Parse(status.Split(' ')[1], CultureInfo.InvariantCulture);
    }

    private sealed record AppAnswer(string Method, string? Query);
}

public sealed class DotSegmentTests
{
    [Theory]
    [InlineData("/orders/../v1.0/shutdown", true)]
    [InlineData("/orders/./x", true)]
    [InlineData("/orders/..", true)]
    [InlineData("/orders/.", true)]
    [InlineData("/orders/x/../../y", true)]
    [InlineData("/orders/.well-known/x", false)]
    [InlineData("/orders/..x/y", false)]
    [InlineData("/orders/x../y", false)]
    [InlineData("/orders/a.b/c", false)]
    [InlineData("/orders/..%2Fx", false)]
    public void HasDotSegment_FindsOnlyWholeDotSegments(string path, bool expected) =>
        Assert.Equal(expected, Shadowing.Router.Forwarding.ServiceForwarder.HasDotSegment(path));
}
