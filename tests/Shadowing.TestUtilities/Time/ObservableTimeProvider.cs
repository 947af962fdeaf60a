using Microsoft.Extensions.Time.Testing;

namespace Shadowing.TestUtilities.Time;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that counts the timers code under test creates, so a test can wait until a
/// background loop has actually started its delay before advancing the clock (advancing earlier would move
/// the delay's start instead of completing it).
/// </summary>
public sealed class ObservableTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private int _timersCreated;

    /// <summary>A clock starting at 2026-11-26 10:00 UTC.</summary>
    public ObservableTimeProvider()
        : this(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Timers created so far (each <c>Task.Delay</c> on this provider creates one).</summary>
    public int TimersCreated => Volatile.Read(ref _timersCreated);

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        Interlocked.Increment(ref _timersCreated);
        return timer;
    }

    /// <summary>Waits until at least <paramref name="count"/> timers have been created.</summary>
    public Task WaitForTimersAsync(int count, CancellationToken cancellationToken = default) =>
        Eventually.WaitUntilAsync(() => TimersCreated >= count, $"{count} timer(s) are created", cancellationToken: cancellationToken);
}
