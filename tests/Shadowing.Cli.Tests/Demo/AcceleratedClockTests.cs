using System.Diagnostics;
using Shadowing.Cli.Demo;

namespace Shadowing.Cli.Tests.Demo;

public sealed class AcceleratedClockTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Conversions_ScaleBySpeed()
    {
        var clock = new AcceleratedClock(Start, 720);

        Assert.Equal(TimeSpan.FromMinutes(12), clock.Simulated(TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromSeconds(1), clock.Real(TimeSpan.FromMinutes(12)));
    }

    [Fact]
    public void Timestamps_StayReal_SoMeasuredDurationsAreRealTime()
    {
        var clock = new AcceleratedClock(Start, 720);

        Assert.Equal(Stopwatch.Frequency, clock.TimestampFrequency);
        var before = Stopwatch.GetTimestamp();
        var stamp = clock.GetTimestamp();
        Assert.InRange(stamp, before, Stopwatch.GetTimestamp());
    }

    [Fact]
    public async Task CalendarTime_RunsSpeedTimesFaster_FromStart()
    {
        var outer = Stopwatch.StartNew();
        var clock = new AcceleratedClock(Start, 1000);
        var first = clock.GetUtcNow();
        var firstAfter = outer.Elapsed;
        var inner = Stopwatch.StartNew();

        await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, TestContext.Current.CancellationToken);
        var innerElapsed = inner.Elapsed;
        var second = clock.GetUtcNow();
        var outerElapsed = outer.Elapsed;

        // From Start at construction: at most the real time since then, times the speed (a pause there is not a failure).
        Assert.InRange(first, Start, Start + TimeSpan.FromTicks(firstAfter.Ticks * 1000) + TimeSpan.FromSeconds(1));
        // Between the two readings more real time passed than the inner stopwatch saw and less than the outer one did.
        Assert.InRange(second - first, TimeSpan.FromTicks(innerElapsed.Ticks * 1000) - TimeSpan.FromSeconds(1), TimeSpan.FromTicks(outerElapsed.Ticks * 1000) + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Delay_OfSimulatedTime_TakesThatDividedBySpeed_AndChangeIsScaledToo()
    {
        var clock = new AcceleratedClock(Start, 3600);
        var real = Stopwatch.StartNew();

        // An hour of simulated time is one real second at 3600×.
        await Task.Delay(TimeSpan.FromHours(1), clock, TestContext.Current.CancellationToken);
        Assert.InRange(real.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(30));

        var fired = new TaskCompletionSource();
        using var timer = clock.CreateTimer(_ => fired.TrySetResult(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        real.Restart();
        timer.Change(TimeSpan.FromMinutes(30), Timeout.InfiniteTimeSpan);
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.InRange(real.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(30));
    }
}
