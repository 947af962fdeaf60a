using System.Collections.Concurrent;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;

namespace Shadowing.TestUtilities.Messaging;

/// <summary>
/// The behaviour every <see cref="IEventBus"/> adapter must have: payloads arrive as published (same JSON
/// shape), every subscriber gets its copy, a failing handler gets the message again, an unsubscribed handler
/// gets nothing. The in-process bus and the Dapr bus (delivered by the fake sidecar) both derive from it.
/// </summary>
public abstract class EventBusContractTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private IEventBus? _bus;

    /// <summary>The bus under test.</summary>
    protected IEventBus Bus => _bus ?? throw new InvalidOperationException("Not initialized.");

    /// <summary>Creates a bus that delivers topics <c>t1</c> and <c>t2</c> to handlers subscribed on it.</summary>
    protected abstract Task<IEventBus> CreateBusAsync();

    /// <summary>Releases the bus.</summary>
    protected abstract ValueTask DisposeBusAsync(IEventBus bus);

    /// <inheritdoc />
    public async ValueTask InitializeAsync() => _bus = await CreateBusAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            await DisposeBusAsync(_bus);
        }

        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Publish_ToSubscriber_DeliversEqualPayload()
    {
        var received = new TaskCompletionSource<Sample>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Bus.Subscribe<Sample>("t1", "s1", (sample, _) =>
        {
            received.TrySetResult(sample);
            return Task.CompletedTask;
        });
        var sent = new Sample("orders", EndpointRole.Shadow, new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero), 42.5);

        await Bus.PublishAsync("t1", sent, Ct);

        Assert.Equal(sent, await received.Task.WaitAsync(Patience, Ct));
    }

    [Fact]
    public async Task Publish_TwoSubscribers_EachReceivesIt()
    {
        var first = new TaskCompletionSource<Sample>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource<Sample>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var a = Bus.Subscribe<Sample>("t1", "a", (s, _) => Complete(first, s));
        using var b = Bus.Subscribe<Sample>("t1", "b", (s, _) => Complete(second, s));

        await Bus.PublishAsync("t1", Sample.Any, Ct);

        Assert.Equal(Sample.Any, await first.Task.WaitAsync(Patience, Ct));
        Assert.Equal(Sample.Any, await second.Task.WaitAsync(Patience, Ct));
    }

    [Fact]
    public async Task Handler_FailsFirstDelivery_GetsTheMessageAgain()
    {
        var attempts = 0;
        var delivered = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Bus.Subscribe<Sample>("t1", "flaky", (_, _) =>
        {
            if (Interlocked.Increment(ref attempts) == 1)
            {
                throw new InvalidOperationException("transient");
            }

            delivered.TrySetResult(attempts);
            return Task.CompletedTask;
        });

        await Bus.PublishAsync("t1", Sample.Any, Ct);

        Assert.True(await delivered.Task.WaitAsync(Patience, Ct) >= 2);
    }

    [Fact]
    public async Task Unsubscribe_BeforePublish_HandlerNotCalled()
    {
        var gone = new ConcurrentQueue<Sample>();
        var stayed = new TaskCompletionSource<Sample>(TaskCreationOptions.RunContinuationsAsynchronously);
        var removed = Bus.Subscribe<Sample>("t1", "gone", (s, _) =>
        {
            gone.Enqueue(s);
            return Task.CompletedTask;
        });
        using var kept = Bus.Subscribe<Sample>("t1", "kept", (s, _) => Complete(stayed, s));
        removed.Dispose();

        await Bus.PublishAsync("t1", Sample.Any, Ct);
        await stayed.Task.WaitAsync(Patience, Ct);

        Assert.Empty(gone);
    }

    [Fact]
    public async Task Publish_OtherTopic_NotDelivered()
    {
        var onT1 = new ConcurrentQueue<Sample>();
        var onT2 = new TaskCompletionSource<Sample>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var a = Bus.Subscribe<Sample>("t1", "a", (s, _) =>
        {
            onT1.Enqueue(s);
            return Task.CompletedTask;
        });
        using var b = Bus.Subscribe<Sample>("t2", "b", (s, _) => Complete(onT2, s));

        await Bus.PublishAsync("t2", Sample.Any, Ct);
        await onT2.Task.WaitAsync(Patience, Ct);

        Assert.Empty(onT1);
    }

    /// <summary>The test's cancellation token.</summary>
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task Complete(TaskCompletionSource<Sample> source, Sample sample)
    {
        source.TrySetResult(sample);
        return Task.CompletedTask;
    }

    /// <summary>A payload exercising the shared JSON shape: strings, enums, timestamps, numbers.</summary>
    public sealed record Sample(string Service, EndpointRole Role, DateTimeOffset At, double Value)
    {
        /// <summary>Any sample.</summary>
        public static Sample Any { get; } = new("svc", EndpointRole.Production, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), 1);
    }
}
