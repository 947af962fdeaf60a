using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Dapr.Messaging;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Messaging;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Dapr.Tests.Messaging;

/// <summary>
/// The shared bus suite over the wire: the real DaprClient publishes to the fake sidecar, which delivers
/// CloudEvents to this app's <c>/events/{topic}</c> endpoint as daprd does for declarative subscriptions.
/// </summary>
public sealed class DaprEventBusTests : EventBusContractTests
{
    private FakeDaprSidecar? _sidecar;
    private WebApplication? _app;

    protected override async Task<IEventBus> CreateBusAsync()
    {
        _sidecar = await FakeDaprSidecar.StartAsync();
        var bus = new DaprEventBus(_sidecar.CreateClient());
        _app = await LoopbackApp.StartAsync(b => b.Services.AddSingleton(bus), app => app.MapShadowingEvents());
        var address = LoopbackApp.AddressOf(_app);
        _sidecar.State.Subscribe("t1", new Uri(address, DaprComponents.EventRoute("t1")));
        _sidecar.State.Subscribe("t2", new Uri(address, DaprComponents.EventRoute("t2")));
        return bus;
    }

    protected override async ValueTask DisposeBusAsync(IEventBus bus)
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        if (_sidecar is not null)
        {
            await _sidecar.DisposeAsync();
        }
    }

    [Fact]
    public async Task Publish_SendsShadowingJsonToNamedPubSubWithJsonContentType()
    {
        await Bus.PublishAsync("t9", new RoutingChanged("orders"), Ct);

        var published = Assert.Single(_sidecar!.State.Published);
        Assert.Equal(DaprComponents.PubSub, published.PubSubName);
        Assert.Equal("application/json", published.ContentType);
        Assert.Equal("orders", JsonDocument.Parse(published.Data).RootElement.GetProperty("service").GetString());
    }

    [Fact]
    public async Task Publish_SidecarFails_ThrowsEventBusExceptionNamingTopic()
    {
        _sidecar!.State.Fault = _ => new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "pubsub down"));

        var error = await Assert.ThrowsAsync<EventBusException>(() => Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct));

        Assert.Contains("'t1'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handler_AlwaysFails_SidecarDeadLettersAfterRetries()
    {
        _sidecar!.State.MaxDeliveryAttempts = 3;
        var attempts = 0;
        using var subscription = Bus.Subscribe<RoutingChanged>("t1", "broken", (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new InvalidOperationException("always");
        });

        await Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct);

        await Eventually.WaitUntilAsync(() => !_sidecar.State.DeadLettered.IsEmpty, "the sidecar dead-letters the event", cancellationToken: Ct);

        Assert.Single(_sidecar.State.DeadLettered);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Event_PayloadNotMatchingType_IsDroppedNotRetried()
    {
        var calls = 0;
        using var subscription = Bus.Subscribe<RoutingChanged>("t1", "typed", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return Task.CompletedTask;
        });
        using var http = new HttpClient();

        using var response = await http.PostAsync(
            new Uri(LoopbackApp.AddressOf(_app!), "/events/t1"),
            new StringContent("""{"specversion":"1.0","data":{"service":12}}""", System.Text.Encoding.UTF8, "application/cloudevents+json"),
            Ct);

        Assert.Contains("DROP", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(0, calls);
    }
}
