using System.Collections.Concurrent;

namespace Shadowing.TestUtilities.Time;

/// <summary>
/// A clock that passes everything to <paramref name="inner"/> (the system clock unless given) and records the due time
/// of every timer the code under test asks for: each <c>Task.Delay</c> on it asks for one. A loop that keeps asking
/// for sub-millisecond timers is spinning. Timers fire <paramref name="early"/> before their due time by
/// <see cref="GetUtcNow"/>, as the system clock's do now and then: they run on a coarser clock, and
/// <c>Task.Delay</c> on it truncates to whole milliseconds.
/// </summary>
public sealed class TimerRecordingTimeProvider(TimeProvider? inner = null, TimeSpan early = default) : TimeProvider
{
    private readonly TimeProvider _inner = inner ?? System;
    private readonly ConcurrentQueue<TimeSpan> _dueTimes = new();
    private int _disposed;

    /// <summary>The due time of every timer created so far, in order.</summary>
    public IReadOnlyCollection<TimeSpan> DueTimes => _dueTimes;

    /// <summary>Timers disposed so far (a cancelled <c>Task.Delay</c> disposes its timer).</summary>
    public int TimersDisposed => Volatile.Read(ref _disposed);

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow();

    /// <inheritdoc />
    public override long GetTimestamp() => _inner.GetTimestamp();

    /// <inheritdoc />
    public override long TimestampFrequency => _inner.TimestampFrequency;

    /// <inheritdoc />
    public override TimeZoneInfo LocalTimeZone => _inner.LocalTimeZone;

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        _dueTimes.Enqueue(dueTime);
        var fires = dueTime > early ? dueTime - early : dueTime > TimeSpan.Zero ? TimeSpan.Zero : dueTime;
        return new Recorded(_inner.CreateTimer(callback, state, fires, period), this);
    }

    private sealed class Recorded(ITimer inner, TimerRecordingTimeProvider owner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

        public void Dispose()
        {
            Interlocked.Increment(ref owner._disposed);
            inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Interlocked.Increment(ref owner._disposed);
            return inner.DisposeAsync();
        }
    }
}
