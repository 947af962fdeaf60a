using System.Diagnostics.Metrics;

namespace Shadowing.Core.Diagnostics;

/// <summary>
/// One iteration of a background loop (the PAE timer, the minute recorder, health probes, table refreshes) run so
/// that nothing it throws can stop the host it shares with the router: any exception other than the host's own
/// shutdown is reported, counted on <c>shadowing_background_failures_total{loop}</c> (meter
/// <see cref="MeterName"/>), and the loop goes on at its next tick.
/// </summary>
public static class BackgroundLoop
{
    /// <summary>The meter of the failure counter; hosts export it with their other metrics.</summary>
    public const string MeterName = "Shadowing.Background";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>(
        "shadowing.background.failures",
        "{failure}",
        "Iterations of background loops that failed; each loop retries at its next tick.");

    /// <summary>
    /// Runs <paramref name="iteration"/>; returns false when <paramref name="stoppingToken"/> ended it (the loop
    /// should stop), true otherwise, including after a failure, which goes to <paramref name="onFailure"/>.
    /// </summary>
    public static async Task<bool> RunOnceAsync(string loop, Func<CancellationToken, Task> iteration, Action<Exception> onFailure, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(iteration);
        ArgumentNullException.ThrowIfNull(onFailure);
        try
        {
            await iteration(stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
#pragma warning disable CA1031 // The point of this method: nothing a tick throws may end the host.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Failures.Add(1, new KeyValuePair<string, object?>("loop", loop));
            onFailure(ex);
            return true;
        }
    }

    /// <summary>
    /// Waits until <paramref name="signal"/> completes or <paramref name="wait"/> has passed on <paramref name="time"/>,
    /// whichever is first; returns true when the signal completed. A loop that sleeps until its next deadline or until
    /// woken keeps one signal task across iterations and asks for a new one only after it completed: the signal is
    /// never cancelled here, because a cancelled <see cref="SemaphoreSlim"/> wait throws an exception inside the
    /// runtime every time the deadline comes first (a router's idle mirror replayer threw over a hundred a second).
    /// The wait is rounded up to whole milliseconds (see <see cref="Sleepable"/>).
    /// </summary>
    public static async Task<bool> SignalOrDelayAsync(Task signal, TimeSpan wait, TimeProvider time, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(signal);
        if (signal.IsCompleted)
        {
            return true;
        }

        using var sleeping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var delay = Task.Delay(Sleepable(wait), time, sleeping.Token);
        if (await Task.WhenAny(signal, delay).ConfigureAwait(false) != signal)
        {
            return false;
        }

        await sleeping.CancelAsync().ConfigureAwait(false); // the delay's timer goes; a cancelled delay throws nothing
        return true;
    }

    /// <summary>
    /// <paramref name="wait"/> rounded up to whole milliseconds. <c>Task.Delay</c> truncates to milliseconds, so a
    /// wait under one returns at once. Timers run on a coarser monotonic clock than
    /// <see cref="TimeProvider.GetUtcNow"/>, and fire up to a few milliseconds before the wall clock reaches the deadline:
    /// a loop waiting for that deadline would then spin, with sub-millisecond waits that end at once, until the wall clock
    /// caught up.
    /// </summary>
    public static TimeSpan Sleepable(TimeSpan wait) =>
        wait <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromTicks((wait.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond * TimeSpan.TicksPerMillisecond);

    /// <summary>
    /// Waits <paramref name="delay"/> on <paramref name="time"/>, rounded up to whole milliseconds (see
    /// <see cref="Sleepable"/>: a loop waiting until a deadline, as the minute recorder does, would otherwise spin when
    /// its timer fires early); returns false when the host is stopping.
    /// </summary>
    public static async Task<bool> WaitAsync(TimeSpan delay, TimeProvider time, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(Sleepable(delay), time, stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
