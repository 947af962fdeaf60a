using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Router.Mirroring;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Mirroring;

/// <summary>The pub/sub replayer's own loop; its replays are in <see cref="MirrorPubSubTests"/>.</summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class MirrorReplayerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EnvelopeIds_RememberedForRedeliveries_NotUntilALongTimeToLiveRunsOut()
    {
        // Envelopes that may live a day: their ids were all kept until then, outside the memory budget (at 500 a second,
        // millions of them).
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        var policy = new Core.Mirroring.MirrorPolicy { Percent = 100, Transport = Core.Mirroring.MirrorTransport.PubSub, TimeToLive = TimeSpan.FromDays(1) };
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], policy)], time: clock);
        var replayer = router.App.Services.GetRequiredService<MirrorReplayer>();
        await Eventually.WaitUntilAsync(() => replayer.Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);

        for (var i = 0; i < 3; i++)
        {
            await router.Bus.PublishAsync(Core.Messaging.Topics.Mirror("orders"), new Core.Mirroring.MirroredRequest
            {
                Id = $"e{i}",
                Service = "orders",
                Method = "GET",
                Path = $"/items/{i}",
                ReceivedAt = clock.GetUtcNow(),
                Targets = ["s1"],
                Production = new Core.Mirroring.EndpointAnswer("p1", 200, 1, 2, null),
                ExpiresAt = clock.GetUtcNow().AddDays(1),
            }, Ct);
        }

        await Eventually.WaitUntilAsync(() => s1.Received.Count == 3, "the three replays", cancellationToken: Ct);
        Assert.Equal(3, replayer.RememberedIds);

        clock.Advance(MirrorReplayer.SeenFor + MirrorReplayer.SyncInterval);
        await Eventually.WaitUntilAsync(() => replayer.RememberedIds == 0, "the ids forgotten after SeenFor", cancellationToken: Ct);
    }

    [Fact]
    public async Task EnvelopeIds_RememberedAtMostTenTimesTheReplayCapacity_TheOldestForgottenFirst()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        var policy = new Core.Mirroring.MirrorPolicy { Percent = 100, Transport = Core.Mirroring.MirrorTransport.PubSub };
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], policy)], new Dictionary<string, string?> { ["Router:Mirroring:ReplayCapacity"] = "5" });
        var replayer = router.App.Services.GetRequiredService<MirrorReplayer>();
        await Eventually.WaitUntilAsync(() => replayer.Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);

        for (var i = 0; i < 60; i++)
        {
            await router.Bus.PublishAsync(Core.Messaging.Topics.Mirror("orders"), Envelope($"e{i}"), Ct);
            var sent = i + 1;
            await Eventually.WaitUntilAsync(() => s1.Received.Count == sent, "each replayed before the next (five may wait)", cancellationToken: Ct);
        }

        Assert.Equal(50, replayer.RememberedIds);

        // The newest is still known (a redelivery is dropped); the oldest was forgotten, and a redelivery of it replayed again.
        await router.Bus.PublishAsync(Core.Messaging.Topics.Mirror("orders"), Envelope("e59"), Ct);
        await router.Bus.PublishAsync(Core.Messaging.Topics.Mirror("orders"), Envelope("e0"), Ct);
        await Eventually.WaitUntilAsync(() => s1.Received.Count == 61, "the forgotten one replayed again", cancellationToken: Ct);
        Assert.Equal(["/items/e0"], s1.Received.Skip(60).Select(r => r.Path));
    }

    private static Core.Mirroring.MirroredRequest Envelope(string id) => new()
    {
        Id = id,
        Service = "orders",
        Method = "GET",
        Path = $"/items/{id}",
        ReceivedAt = TimeProvider.System.GetUtcNow(),
        Targets = ["s1"],
        Production = new Core.Mirroring.EndpointAnswer("p1", 200, 1, 2, null),
        ExpiresAt = TimeProvider.System.GetUtcNow().AddMinutes(10),
    };

    [Fact]
    public async Task TimerFiresEarly_RestOfTheWaitIsAWholeMillisecond()
    {
        // The replayer sleeps until its next subscription sync. The system clock's timers now and then fire a little
        // before GetUtcNow reaches their due time, and the replayer waited out the rest with a sub-millisecond delay,
        // which Task.Delay on the system clock truncates to none: a spin until the wall clock caught up, each turn
        // cancelling a wait that threw an exception (in `shadowing up`, 7,832 of them in 65 s).
        var early = TimeSpan.FromTicks(5_000);
        var clock = new FakeTimeProvider();
        var time = new TimerRecordingTimeProvider(clock, early);
        await using var router = await RouterHost.StartAsync([], time: time);
        await Eventually.WaitUntilAsync(() => time.DueTimes.Contains(MirrorReplayer.SyncInterval), "the replayer's sleep until its sync", cancellationToken: Ct);
        var before = time.DueTimes.Count;

        clock.Advance(MirrorReplayer.SyncInterval - early);

        TimeSpan Rest() => time.DueTimes.Skip(before).FirstOrDefault(d => d > TimeSpan.Zero && d < TimeSpan.FromMilliseconds(2));
        await Eventually.WaitUntilAsync(() => Rest() > TimeSpan.Zero, "the replayer's wait for the rest (one under a millisecond ends at once, and it spins)", cancellationToken: Ct);
        Assert.Equal(TimeSpan.FromMilliseconds(1), Rest());
    }
}
