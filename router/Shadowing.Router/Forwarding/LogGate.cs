namespace Shadowing.Router.Forwarding;

/// <summary>
/// Lets one log line through per interval and counts the ones held back, without a lock: a decision logged per
/// request would flood the log (and cost the request path) exactly when traffic shifts to shadows.
/// </summary>
internal sealed class LogGate
{
    private long _next;
    private long _suppressed;

    /// <summary>Whether a line may be written now (timestamps of a <see cref="TimeProvider"/>); if so, how many were held back since the last one.</summary>
    public bool TryPass(long now, long intervalTicks, out long suppressed)
    {
        var next = Volatile.Read(ref _next);
        if (now >= next && Interlocked.CompareExchange(ref _next, now + intervalTicks, next) == next)
        {
            suppressed = Interlocked.Exchange(ref _suppressed, 0);
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        suppressed = 0;
        return false;
    }
}
