using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Diagnostics;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Core.Tests.Diagnostics;

public sealed class BackgroundLoopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-5_000, 0)]
    [InlineData(1, 10_000)] // one tick waits a whole millisecond
    [InlineData(3_000, 10_000)] // 0.3 ms: Task.Delay on the system clock would truncate it to none
    [InlineData(10_000, 10_000)]
    [InlineData(10_001, 20_000)]
    [InlineData(10_000_000, 10_000_000)]
    public void Sleepable_RoundsUpToWholeMilliseconds(long ticks, long expected) =>
        Assert.Equal(TimeSpan.FromTicks(expected), BackgroundLoop.Sleepable(TimeSpan.FromTicks(ticks)));

    [Fact]
    public void TaskDelay_TruncatesToWholeMilliseconds() =>
        Assert.True(Task.Delay(TimeSpan.FromTicks(9_999), TimeProvider.System, Ct).IsCompleted); // why Sleepable rounds up

    [Fact]
    public async Task SignalOrDelay_DelayFirst_ReturnsFalse_AndLeavesTheSignalWaiting()
    {
        var time = new FakeTimeProvider();
        using var semaphore = new SemaphoreSlim(0);
        var signal = semaphore.WaitAsync(Ct);

        var waiting = BackgroundLoop.SignalOrDelayAsync(signal, TimeSpan.FromSeconds(1), time, Ct);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(await waiting);
        Assert.False(signal.IsCompleted); // not cancelled: the next wait takes the same signal, and no exception was thrown
        semaphore.Release();
        Assert.True(await BackgroundLoop.SignalOrDelayAsync(signal, TimeSpan.FromSeconds(1), time, Ct));
    }

    [Fact]
    public async Task SignalOrDelay_SignalFirst_ReturnsTrue_AndCancelsTheDelay()
    {
        var time = new TimerRecordingTimeProvider(new FakeTimeProvider());
        using var semaphore = new SemaphoreSlim(0);
        var signal = semaphore.WaitAsync(Ct);

        var waiting = BackgroundLoop.SignalOrDelayAsync(signal, TimeSpan.FromMinutes(5), time, Ct);
        semaphore.Release();

        Assert.True(await waiting);
        Assert.Equal([TimeSpan.FromMinutes(5)], time.DueTimes);
        Assert.Equal(1, time.TimersDisposed); // not left to fire in five minutes
    }

    [Fact]
    public void SignalOrDelay_SubMillisecondWait_AsksForAWholeMillisecond()
    {
        var time = new TimerRecordingTimeProvider(new FakeTimeProvider());
        var never = new TaskCompletionSource().Task;

        var waiting = BackgroundLoop.SignalOrDelayAsync(never, TimeSpan.FromTicks(3_000), time, Ct);

        Assert.Equal([TimeSpan.FromMilliseconds(1)], time.DueTimes);
        Assert.False(waiting.IsCompleted);
    }

    [Fact]
    public async Task SignalOrDelay_Stopping_ReturnsFalse()
    {
        using var stopping = new CancellationTokenSource();
        var never = new TaskCompletionSource().Task;

        var waiting = BackgroundLoop.SignalOrDelayAsync(never, TimeSpan.FromMinutes(5), new FakeTimeProvider(), stopping.Token);
        await stopping.CancelAsync();

        Assert.False(await waiting);
    }
}
