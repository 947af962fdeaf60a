using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
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
/// CloudEvents to this app's <c>/events/{topic}</c> endpoint and reads its answers as daprd does.
/// </summary>
public sealed class DaprEventBusTests : EventBusContractTests
{
    private const string AppToken = "app-secret";
    private FakeDaprSidecar? _sidecar;
    private WebApplication? _app;

    private FakeDaprSidecar Sidecar => _sidecar!;

    private Uri App => LoopbackApp.AddressOf(_app!);

    protected override async Task<IEventBus> CreateBusAsync()
    {
        _sidecar = await FakeDaprSidecar.StartAsync(appApiToken: AppToken);
        var bus = new DaprEventBus(_sidecar.CreateClient());
        _app = await LoopbackApp.StartAsync(
            b =>
            {
                b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [DaprAppToken.ConfigurationKey] = AppToken });
                b.Services.AddSingleton(bus);
            },
            app =>
            {
                app.MapShadowingEvents();
                app.MapDaprSubscriptions(DaprAppIds.Router);
            });
        _sidecar.State.PubSub.Subscribe("t1", new Uri(App, DaprComponents.EventRoute("t1")), DaprSubscriptions.DeadLetterTopic);
        _sidecar.State.PubSub.Subscribe("t2", new Uri(App, DaprComponents.EventRoute("t2")), DaprSubscriptions.DeadLetterTopic);
        return bus;
    }

    protected override async ValueTask DisposeBusAsync(IEventBus bus)
    {
        if (_sidecar is not null)
        {
            await _sidecar.DisposeAsync();
        }

        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Publish_SendsShadowingJsonToNamedPubSubWithJsonContentType()
    {
        await Bus.PublishAsync("t9", new RoutingChanged("orders"), Ct);

        var published = Assert.Single(Sidecar.State.Published);
        Assert.Equal(DaprComponents.PubSub, published.PubSubName);
        Assert.Equal("application/json", published.ContentType);
        Assert.Equal("orders", JsonDocument.Parse(published.Data).RootElement.GetProperty("service").GetString());
    }

    [Fact]
    public async Task Publish_SidecarFails_ThrowsEventBusExceptionNamingTopic()
    {
        Sidecar.State.Fault = _ => new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "pubsub down"));

        var error = await Assert.ThrowsAsync<EventBusException>(() => Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct));

        Assert.Contains("'t1'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handler_AlwaysFails_RetriedThenDeadLettered()
    {
        Sidecar.State.PubSub.MaxDeliveryAttempts = 3;
        var attempts = 0;
        using var subscription = Bus.Subscribe<RoutingChanged>("t1", "broken", (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new InvalidOperationException("always");
        });

        await Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct);

        await Eventually.WaitUntilAsync(() => !Sidecar.State.PubSub.DeadLettered.IsEmpty, "the sidecar dead-letters the event", cancellationToken: Ct);
        Assert.Equal(DaprSubscriptions.DeadLetterTopic, Assert.Single(Sidecar.State.PubSub.DeadLettered).Topic);
        Assert.Equal(3, attempts);
        Assert.All(Sidecar.State.PubSub.Attempts, a => Assert.Equal(DeliveryOutcome.Retry, a.Outcome));
    }

    [Fact]
    public async Task Handler_RefusesTheMessageForGood_DroppedToTheDeadLetterTopicAtOnce()
    {
        // An OutboxChangeFeed refusal (a key of another service) was retried like a failure before it was dead-lettered.
        Sidecar.State.PubSub.MaxDeliveryAttempts = 3;
        var attempts = 0;
        using var subscription = Bus.Subscribe<RoutingChanged>("t1", "refusing", (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new Core.Messaging.UnprocessableMessageException("never");
        });

        await Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct);

        await Eventually.WaitUntilAsync(() => !Sidecar.State.PubSub.DeadLettered.IsEmpty, "the sidecar dead-letters the event", cancellationToken: Ct);
        Assert.Equal(1, attempts);
        Assert.Equal(DeliveryOutcome.Drop, Assert.Single(Sidecar.State.PubSub.Attempts, a => a.Topic == "t1").Outcome);
    }

    [Fact]
    public async Task Event_WithNoHandler_IsRetriedThenDeadLettered()
    {
        Sidecar.State.PubSub.MaxDeliveryAttempts = 3;

        await Bus.PublishAsync("t2", new RoutingChanged("orders"), Ct);

        await Eventually.WaitUntilAsync(() => !Sidecar.State.PubSub.DeadLettered.IsEmpty, "the sidecar dead-letters the event", cancellationToken: Ct);
        Assert.Equal([("t2", DeliveryOutcome.Retry), ("t2", DeliveryOutcome.Retry), ("t2", DeliveryOutcome.Retry)], Sidecar.State.PubSub.Attempts);
    }

    [Fact]
    public async Task Event_DeliveredBeforeItsHandlerIsSubscribed_IsHandledOnceItIs()
    {
        // A handler re-subscribed (the mirror replayer's topics follow the routing tables) or not yet subscribed at start:
        // daprd drops an event answered 404 at once (to the dead-letter topic at best), so the gap would lose it.
        Sidecar.State.PubSub.MaxDeliveryAttempts = 10_000;
        await Bus.PublishAsync("t2", new RoutingChanged("orders"), Ct);
        await Eventually.WaitUntilAsync(() => !Sidecar.State.PubSub.Attempts.IsEmpty, "a first delivery", cancellationToken: Ct);

        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Bus.Subscribe<RoutingChanged>("t2", "late", (_, _) =>
        {
            handled.TrySetResult();
            return Task.CompletedTask;
        });

        await handled.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Empty(Sidecar.State.PubSub.DeadLettered);
    }

    [Fact]
    public async Task Handler_SlowerThanProcessingTimeout_GetsTheEventAgainWhileWorking()
    {
        Sidecar.State.PubSub.ProcessingTimeout = TimeSpan.FromMilliseconds(200);
        var calls = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Bus.Subscribe<RoutingChanged>("t1", "slow", async (_, ct) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await release.Task.WaitAsync(ct); // the first delivery is still being handled…
            }
        });

        await Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct);

        await Eventually.WaitUntilAsync(() => Volatile.Read(ref calls) >= 2, "Redis Streams claims the pending event and delivers it again", cancellationToken: Ct);
        release.SetResult();
        await Eventually.WaitUntilAsync(() => Sidecar.State.PubSub.Attempts.Count >= 2, "both deliveries are answered", cancellationToken: Ct);
        Assert.All(Sidecar.State.PubSub.Attempts, a => Assert.Equal(DeliveryOutcome.Success, a.Outcome));
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
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(App, "/events/t1"))
        {
            Content = new StringContent("""{"specversion":"1.0","data":{"service":12}}""", System.Text.Encoding.UTF8, "application/cloudevents+json"),
        };
        request.Headers.Add(DaprAppToken.Header, AppToken);

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(DeliveryOutcome.Drop, FakePubSub.Classify(response.StatusCode, await response.Content.ReadAsStringAsync(Ct)));
        Assert.Equal(0, calls);
    }

    [Theory]
    [InlineData("/events/t1", "POST", null)]
    [InlineData("/events/t1", "POST", "wrong")]
    [InlineData("/dapr/subscribe", "GET", null)]
    [InlineData("/dapr/subscribe", "GET", "app-secreT")]
    public async Task DaprOnlyRoutes_WithoutTheAppToken_Are401(string path, string method, string? token)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(App, path)) { Content = method == "POST" ? new StringContent("{}") : null };
        if (token is not null)
        {
            request.Headers.Add(DaprAppToken.Header, token);
        }

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("events/t1", "POST")]
    [InlineData("dapr/subscribe", "GET")]
    public async Task DaprOnlyRoutes_ReachedByServiceInvocation_Are403_TheAppTokenNotWithstanding(string method, string verb)
    {
        // Any app of the environment can invoke this one, and daprd adds the app token to what it passes on.
        var calls = 0;
        using var subscription = Bus.Subscribe<RoutingChanged>("t1", "counted", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return Task.CompletedTask;
        });
        Sidecar.State.MapAppAt("router", App);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(verb), new Uri(new Uri(Sidecar.HttpEndpoint), $"/v1.0/invoke/router/method/{method}"))
        {
            Content = verb == "POST" ? new StringContent("""{"specversion":"1.0","data":{"service":"orders"}}""", System.Text.Encoding.UTF8, "application/cloudevents+json") : null,
        };

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task ProgrammaticSubscriptions_ReadAsDaprdReadsThem_AreTheCatalogs()
    {
        var loaded = await Sidecar.State.PubSub.LoadFromAppAsync(App, Ct);

        Assert.Equal(
            DaprSubscriptions.For(DaprAppIds.Router).Select(s => (s.PubSubName, s.Topic, s.Route, s.DeadLetterTopic)),
            loaded.Select(s => (s.PubSubName, s.Topic, s.Route.AbsolutePath, s.DeadLetterTopic)));
    }
}
