using System.Net;
using Dapr.Client;
using Microsoft.Extensions.Configuration;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Dapr.Messaging;
using Shadowing.Dapr.State;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Network;

namespace Shadowing.Dapr.Tests;

/// <summary>The adapters' client against a sidecar that stops answering: calls fail within the deadline, and work again after.</summary>
public sealed class DaprSidecarClientTests
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(FaultKind.Blackhole)]
    [InlineData(FaultKind.HalfOpen)]
    public async Task SidecarStopsAnswering_StoreAndBusCallsFailAsUnavailableWithinTheDeadline_AndSucceedOnceItAnswers(FaultKind kind)
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var proxy = FaultProxy.Start(new Uri(sidecar.GrpcEndpoint));
        using var dapr = DaprSidecarClient.Build(new DaprClientBuilder().UseGrpcEndpoint(proxy.Address.ToString().TrimEnd('/')).UseHttpEndpoint(sidecar.HttpEndpoint), TimeProvider.System, CallTimeout);
        var store = new DaprStateStore(dapr, TimeProvider.System);
        var bus = new DaprEventBus(dapr);
        // The first call opens the connection (the HTTP/2 handshake, cold code) within the same short deadline: retried
        // until it lands, so only the fault below can fail a call.
        await Shadowing.TestUtilities.Time.Eventually.WaitUntilAsync(
            async () =>
            {
                try
                {
                    await store.SaveAsync("routing/orders", "1"u8.ToArray(), null, Ct);
                    return true;
                }
                catch (StateStoreException)
                {
                    return false;
                }
            },
            "the first save through the proxy",
            cancellationToken: Ct);

        proxy.Current = new Fault(kind);
        var read = await Assert.ThrowsAsync<StateStoreException>(() => store.GetAsync("routing/orders", Ct));
        var publish = await Assert.ThrowsAsync<EventBusException>(() => bus.PublishAsync("alerts", new { Kind = "test" }, Ct));

        // Each failed at its deadline (without one, both would wait forever); the message says why.
        Assert.Contains("did not answer", read.Message, StringComparison.Ordinal);
        Assert.Contains("did not answer", publish.Message, StringComparison.Ordinal);

        proxy.Current = Fault.None;
        await Shadowing.TestUtilities.Time.Eventually.WaitUntilAsync(
            async () =>
            {
                try
                {
                    return (await store.GetAsync("routing/orders", Ct))?.Value.ToArray() is [(byte)'1'];
                }
                catch (StateStoreException)
                {
                    return false; // the connection the fault broke is being replaced
                }
            },
            "the store answers again after the fault ends",
            TimeSpan.FromSeconds(45),
            Ct);
    }

    [Fact]
    public void Build_TimeoutNotPositive_Refused() =>
        Assert.Throws<ArgumentOutOfRangeException>("callTimeout", () => DaprSidecarClient.Build(new DaprClientBuilder(), TimeProvider.System, TimeSpan.Zero));

    [Theory]
    [InlineData("sidecar-token", HttpStatusCode.OK)]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    public async Task CreateInvokeClient_CallsTheAppThroughTheSidecar_WithTheTokenConfigured(string? token, HttpStatusCode expected)
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync(apiToken: "sidecar-token");
        await using var app = await TestBackend.StartAsync("workflows");
        sidecar.State.MapAppAt("workflows", app.Address);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DAPR_HTTP_ENDPOINT"] = sidecar.HttpEndpoint,
            ["DAPR_API_TOKEN"] = token,
        }).Build();

        // DaprClient.CreateInvokeHttpClient(appId) alone sends no token even with DAPR_API_TOKEN set: its handler's
        // initializer sets the (null) token it was given over the one it read from the environment.
        using var client = DaprSidecarClient.CreateInvokeClient("workflows", configuration);
        using var response = await client.GetAsync(new Uri("/items/1", UriKind.Relative), Ct);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(token is null ? 0 : 1, app.Requests);
    }
}
