using System.Diagnostics;

namespace Shadowing.Cli.Demo;

/// <summary>
/// The demo's clock: calendar time and timers run <see cref="Speed"/> times faster than real time, from
/// <see cref="Start"/>; timestamps (<see cref="TimeProvider.GetTimestamp"/>) stay real, so what the stack measures as a
/// duration (request latency, training time against its budget) is what really elapsed. Everything that waits on this
/// clock (the PAE timer, health probes, workflow timers, validation sweeps) waits <see cref="Speed"/> times less.
/// </summary>
internal sealed class AcceleratedClock : TimeProvider
{
    private readonly long _anchor = Stopwatch.GetTimestamp();

    public AcceleratedClock(DateTimeOffset start, double speed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(speed, 1.0);
        Start = start;
        Speed = speed;
    }

    /// <summary>Simulated time when the clock was made.</summary>
    public DateTimeOffset Start { get; }

    /// <summary>Simulated seconds per real second.</summary>
    public double Speed { get; }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override DateTimeOffset GetUtcNow() => Start + Simulated(Stopwatch.GetElapsedTime(_anchor));

    /// <summary>The simulated span <paramref name="real"/> real time covers.</summary>
    public TimeSpan Simulated(TimeSpan real) => TimeSpan.FromTicks((long)(real.Ticks * Speed));

    /// <summary>The real time <paramref name="simulated"/> takes.</summary>
    public TimeSpan Real(TimeSpan simulated) => TimeSpan.FromTicks((long)(simulated.Ticks / Speed));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new ScaledTimer(this, callback, state, dueTime, period);

    // A timer counts whole milliseconds: a short simulated wait would become 0 ms and spin, so it waits at least 1 ms.
    private TimeSpan Scale(TimeSpan span) => span == Timeout.InfiniteTimeSpan || span <= TimeSpan.Zero ? span : TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, Real(span).Ticks));

    /// <summary>A real timer whose due time and period are divided by the speed, also when changed.</summary>
    private sealed class ScaledTimer(AcceleratedClock clock, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) : ITimer
    {
        private readonly Timer _timer = new(callback, state, clock.Scale(dueTime), clock.Scale(period));

        public bool Change(TimeSpan dueTime, TimeSpan period) => _timer.Change(clock.Scale(dueTime), clock.Scale(period));

        public void Dispose() => _timer.Dispose();

        public ValueTask DisposeAsync() => _timer.DisposeAsync();
    }
}
