using Microsoft.Extensions.Time.Testing;
using Shadowing.Router.Mirroring;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Mirroring;

/// <summary>The pub/sub replayer's own loop; its replays are in <see cref="MirrorPubSubTests"/>.</summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class MirrorReplayerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

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
