namespace Shadowing.Router.Mirroring;

/// <summary>
/// The bytes the router holds for mirroring at once: captured request and answer bodies (while production serves a
/// mirrored request, queued, and while a copy's answer is read) and envelopes waiting for their replay. The queue and
/// the replay buffer are bounded by count, but a count of bodies of up to <c>maxBodyBytes</c> (16 MiB) each, plus
/// captures still in flight, bounds nothing a router's memory limit can rely on; past this budget a capture stops and
/// the copy is dropped (<c>memory_limit</c>), so a burst of large bodies costs mirror samples, never the router.
/// Envelopes waiting for a time-shifted replay may hold at most half of it, so hours of shift never starve the
/// direct copies. Transient copies made while a copy is sent (a decoded answer, a published envelope) are not counted:
/// there are at most <c>Senders</c> of them.
/// </summary>
internal sealed class MirrorMemory(long limit)
{
    private long _held;

    /// <summary>The budget.</summary>
    public long Limit => limit;

    /// <summary>Bytes held now.</summary>
    public long Held => Volatile.Read(ref _held);

    /// <summary>Takes <paramref name="bytes"/> from the budget; false (and nothing taken) when they do not fit.</summary>
    public bool TryTake(long bytes)
    {
        // Committed only when it fits: adding first and backing out would fail small takes racing a large refused one.
        var held = Volatile.Read(ref _held);
        while (true)
        {
            if (held + bytes > limit)
            {
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _held, held + bytes, held);
            if (seen == held)
            {
                return true;
            }

            held = seen;
        }
    }

    /// <summary>Gives back bytes taken with <see cref="TryTake"/>.</summary>
    public void Give(long bytes) => Interlocked.Add(ref _held, -bytes);
}
