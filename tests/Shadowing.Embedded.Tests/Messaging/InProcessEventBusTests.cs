using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;
using Shadowing.TestUtilities.Messaging;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Embedded.Tests.Messaging;

public sealed class InProcessEventBusTests : EventBusContractTests
{
    private SqliteStateStore? _store;

    protected override Task<IEventBus> CreateBusAsync()
    {
        _store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        return Task.FromResult<IEventBus>(Create(_store, TimeProvider.System, new InProcessEventBusOptions { InitialBackoff = TimeSpan.FromMilliseconds(5) }));
    }

    protected override async ValueTask DisposeBusAsync(IEventBus bus)
    {
        await ((InProcessEventBus)bus).DisposeAsync();
        _store?.Dispose();
    }

    [Fact]
    public async Task Flood_OneSlowSubscriber_PublisherNeverWaits_OthersKeepReceiving_OverflowDeadLetteredAndCounted()
    {
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        await using var bus = Create(store, TimeProvider.System, new InProcessEventBusOptions { QueueCapacity = 10 });
        var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fastReceived = 0;
        using var slow = bus.Subscribe<RoutingChanged>("routing-changed", "slow", (_, ct) => stuck.Task.WaitAsync(ct));
        using var fast = bus.Subscribe<RoutingChanged>("routing-changed", "fast", (_, _) =>
        {
            Interlocked.Increment(ref fastReceived);
            return Task.CompletedTask;
        });

        // The slow subscriber takes one message and holds it; ten more fill its queue; the other 89 overflow.
        for (var i = 0; i < 100; i++)
        {
            var publish = bus.PublishAsync("routing-changed", new RoutingChanged($"s{i}"), Ct);
            Assert.True(publish.IsCompleted || await Task.WhenAny(publish, Task.Delay(TimeSpan.FromSeconds(5), TimeProvider.System, Ct)) == publish, $"publish {i} waited on the full queue");
            await publish;
            var expected = i + 1;
            await Eventually.WaitUntilAsync(() => Volatile.Read(ref fastReceived) == expected, $"the fast subscriber received message {i}", cancellationToken: Ct);
        }

        Assert.InRange(bus.Overflows, 89, 90);
        var letters = await store.ListKeysAsync("deadletter/routing-changed/slow/", Ct);
        Assert.Equal(bus.Overflows, letters.Count);
        Assert.Empty(await store.ListKeysAsync("deadletter/routing-changed/fast/", Ct));
        var letter = (await store.GetJsonAsync<DeadLetter>(letters[0], Ct))!.Value;
        Assert.Equal(0, letter.Attempts);
        Assert.Contains("queue was full", letter.Error, StringComparison.Ordinal);
        stuck.SetResult();
    }

    [Fact]
    public async Task Handler_KeepsFailing_RetriesWithDoublingBackoffThenStoresDeadLetter()
    {
        var time = new ObservableTimeProvider();
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, time);
        await using var bus = Create(store, time, new InProcessEventBusOptions { MaxAttempts = 3, InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(10) });
        var attempts = 0;
        using var subscription = bus.Subscribe<RoutingChanged>("routing-changed", "router", (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new InvalidOperationException("store down");
        });

        await bus.PublishAsync("routing-changed", new RoutingChanged("orders"), Ct);
        await time.WaitForTimersAsync(1, Ct);

        // The second attempt waits 1 s, the third 2 s more: nothing happens before the clock says so.
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(1, Volatile.Read(ref attempts));
        time.Advance(TimeSpan.FromMilliseconds(1));
        await time.WaitForTimersAsync(2, Ct);
        Assert.Equal(2, Volatile.Read(ref attempts));
        time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal(2, Volatile.Read(ref attempts));
        time.Advance(TimeSpan.FromMilliseconds(1));

        await Eventually.WaitUntilAsync(async () => (await store.ListKeysAsync("deadletter/", Ct)).Count == 1, "the dead letter is stored", cancellationToken: Ct);
        var key = Assert.Single(await store.ListKeysAsync("deadletter/", Ct));
        Assert.StartsWith("deadletter/routing-changed/router/", key, StringComparison.Ordinal);
        var letter = (await store.GetJsonAsync<DeadLetter>(key, Ct))!.Value;
        Assert.Equal(3, letter.Attempts);
        Assert.Equal(3, attempts);
        Assert.Contains("store down", letter.Error, StringComparison.Ordinal);
        Assert.Equal("orders", letter.Data.GetProperty("service").GetString());
    }

    [Fact]
    public async Task Handler_RefusesTheMessageForGood_DeadLetteredAtOnce_NotRetried()
    {
        var time = new ObservableTimeProvider();
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, time);
        await using var bus = Create(store, time, new InProcessEventBusOptions { MaxAttempts = 3, InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(10) });
        var attempts = 0;
        using var subscription = bus.Subscribe<RoutingChanged>("routing-changed", "router", (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new UnprocessableMessageException("names another service's data");
        });

        await bus.PublishAsync("routing-changed", new RoutingChanged("orders"), Ct);

        // No clock advance: a retry would wait for it.
        await Eventually.WaitUntilAsync(async () => (await store.ListKeysAsync("deadletter/", Ct)).Count == 1, "the dead letter is stored", cancellationToken: Ct);
        var letter = (await store.GetJsonAsync<DeadLetter>(Assert.Single(await store.ListKeysAsync("deadletter/", Ct)), Ct))!.Value;
        Assert.Equal((1, 1), (letter.Attempts, attempts));
        Assert.Contains("another service", letter.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mirror.orders", false)]
    [InlineData("alerts", true)]
    public async Task DeadLetterThatCannotBeStored_IsLogged_WithItsPayloadUnlessAMirrorEnvelope(string topic, bool payloadLogged)
    {
        var store = Substitute.For<IStateStore>();
        store.SaveAsync(default!, default, default, default).ReturnsForAnyArgs<Task>(_ => throw new StateStoreException("the store is down"));
        var logger = Substitute.For<ILogger<InProcessEventBus>>();
        logger.IsEnabled(Arg.Any<LogLevel>()).Returns(true);
        await using var bus = new InProcessEventBus(store, TimeProvider.System, Options.Create(new InProcessEventBusOptions()), logger);
        using var subscription = bus.Subscribe<RoutingChanged>(topic, "replayer", (_, _) => throw new UnprocessableMessageException("refused"));

        await bus.PublishAsync(topic, new RoutingChanged("secret-body-text"), Ct);

        bool Critical(NSubstitute.Core.ICall c) => c.GetMethodInfo().Name == nameof(ILogger.Log) && c.GetArguments()[0] is LogLevel.Critical;
        await Eventually.WaitUntilAsync(() => logger.ReceivedCalls().Any(Critical), "the dead letter's loss is logged", cancellationToken: Ct);
        var logged = string.Join(" ", logger.ReceivedCalls().Where(Critical).Select(c => c.GetArguments()[2]?.ToString()));
        Assert.Equal(payloadLogged, logged.Contains("secret-body-text", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Dispose_WithQueuedMessages_DeliversThemFirst()
    {
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        var bus = Create(store, TimeProvider.System, new InProcessEventBusOptions());
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = 0;
        using var subscription = bus.Subscribe<RoutingChanged>("t", "slow", async (_, _) =>
        {
            await gate.Task;
            Interlocked.Increment(ref seen);
        });
        for (var i = 0; i < 5; i++)
        {
            await bus.PublishAsync("t", new RoutingChanged($"s{i}"), Ct);
        }

        var disposing = bus.DisposeAsync().AsTask();
        gate.SetResult();
        await disposing;

        Assert.Equal(5, seen);
    }

    [Fact]
    public async Task Publish_AfterDispose_Throws()
    {
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        var bus = Create(store, TimeProvider.System, new InProcessEventBusOptions());
        await bus.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => bus.PublishAsync("t", new RoutingChanged("x"), Ct));
    }

    [Fact]
    public async Task Subscribers_OneSlow_OtherStillReceives()
    {
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fast = new TaskCompletionSource<RoutingChanged>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var slow = Bus.Subscribe<RoutingChanged>("t1", "slow", (_, _) => blocked.Task);
        using var quick = Bus.Subscribe<RoutingChanged>("t1", "quick", (m, _) =>
        {
            fast.TrySetResult(m);
            return Task.CompletedTask;
        });

        await Bus.PublishAsync("t1", new RoutingChanged("orders"), Ct);

        Assert.Equal("orders", (await fast.Task.WaitAsync(Eventually.DefaultTimeout, Ct)).Service);
        blocked.SetResult();
    }

    [Fact]
    public async Task ManyMessages_FlakySlowAndFailingSubscribers_EachDeliveredOnceInEffectOrDeadLettered_CountedAtBothEnds()
    {
        // Jepsen's queue check on the bus itself: 600 messages to three subscribers. "steady" always succeeds; "flaky"
        // fails the first try of every third message, takes effect and then fails for every seventh (so it gets it again),
        // and never handles every fiftieth; "slow" is slow enough that a small queue overflows.
        const int total = 600;
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        await using var bus = Create(store, TimeProvider.System, new InProcessEventBusOptions { QueueCapacity = 256, MaxAttempts = 3, InitialBackoff = TimeSpan.FromMilliseconds(1) });
        var effects = new Dictionary<string, System.Collections.Concurrent.ConcurrentQueue<string>>
        {
            ["steady"] = new(), ["flaky"] = new(), ["slow"] = new(),
        };
        var tries = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var steady = bus.Subscribe<RoutingChanged>("routing-changed", "steady", (m, _) =>
        {
            effects["steady"].Enqueue(m.Service);
            return Task.CompletedTask;
        });
        using var flaky = bus.Subscribe<RoutingChanged>("routing-changed", "flaky", (m, _) =>
        {
            var n = int.Parse(m.Service[1..], System.Globalization.CultureInfo.InvariantCulture);
            var attempt = tries.AddOrUpdate(m.Service, 1, (_, a) => a + 1);
            if (n % 50 == 0 || (n % 3 == 0 && attempt == 1))
            {
                throw new InvalidOperationException($"{m.Service} failed, attempt {attempt}");
            }

            effects["flaky"].Enqueue(m.Service);
            if (n % 7 == 0 && attempt == 1)
            {
                throw new InvalidOperationException($"{m.Service} handled, then failed before acknowledging");
            }

            return Task.CompletedTask;
        });
        using var slow = bus.Subscribe<RoutingChanged>("routing-changed", "slow", async (m, ct) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(2), TimeProvider.System, ct);
            effects["slow"].Enqueue(m.Service);
        });

        var sent = Enumerable.Range(1, total).Select(n => $"s{n}").ToList();
        foreach (var id in sent)
        {
            await bus.PublishAsync("routing-changed", new RoutingChanged(id), Ct);
        }

        foreach (var subscriber in effects.Keys)
        {
            async Task<DeliveryCheck> CheckAsync()
            {
                var letters = new List<string>();
                foreach (var key in await store.ListKeysAsync($"deadletter/routing-changed/{subscriber}/", Ct))
                {
                    letters.Add((await store.GetJsonAsync<DeadLetter>(key, Ct))!.Value.Data.GetProperty("service").GetString()!);
                }

                return DeliveryCheck.Of(sent, effects[subscriber], letters);
            }

            DeliveryCheck check = null!;
            await Eventually.WaitUntilAsync(async () => (check = await CheckAsync()).Lost.Count == 0, $"every message to {subscriber} delivered or dead-lettered", TimeSpan.FromSeconds(60), Ct);
            Assert.True(check.Holds, $"{subscriber}: {check}");
            TestContext.Current.TestOutputHelper?.WriteLine($"{subscriber}: {check}");
            if (subscriber == "flaky")
            {
                Assert.All(sent.Where((_, i) => (i + 1) % 50 == 0), id => Assert.DoesNotContain(id, effects["flaky"]));
                Assert.InRange(check.DeadLettered, total / 50, total);
                Assert.True(check.Duplicates > 0, "a message handled and then failed is delivered again");
            }
        }
    }

    private static InProcessEventBus Create(IStateStore store, TimeProvider time, InProcessEventBusOptions options) =>
        new(store, time, Options.Create(options), NullLogger<InProcessEventBus>.Instance);
}
