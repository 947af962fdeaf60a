using Shadowing.Core.State;

namespace Shadowing.TestUtilities.State;

/// <summary>
/// Fails about one call in twelve before it reaches the store, and loses the answer of about one write in twelve after
/// it was applied: the faults an at-least-once writer must absorb (a retried write that already landed must not count
/// twice). Only keys accepted by <paramref name="affects"/> are disturbed (all by default).
/// </summary>
public sealed class ChaoticStateStore(IStateStore inner, Func<string, bool>? affects = null) : DelegatingStateStore(inner)
{
    private readonly Func<string, bool> _affects = affects ?? (_ => true);
    private int _calls;
    private int _failures;
    private int _lostAnswers;

    /// <summary>Calls failed before they reached the store.</summary>
    public int Failures => Volatile.Read(ref _failures);

    /// <summary>Writes applied whose answer was lost.</summary>
    public int LostAnswers => Volatile.Read(ref _lostAnswers);

    /// <inheritdoc />
    public override async Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        Before(key);
        return await base.GetAsync(key, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default)
    {
        var n = Before(key);
        await base.SaveAsync(key, value, etag, cancellationToken).ConfigureAwait(false);
        After(n, key);
    }

    /// <inheritdoc />
    public override async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        var n = Before(key);
        var created = await base.TryCreateAsync(key, value, cancellationToken).ConfigureAwait(false);
        After(n, key);
        return created;
    }

    /// <inheritdoc />
    public override async Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var n = Before(operations[0].Key);
        await base.TransactAsync(operations, cancellationToken).ConfigureAwait(false);
        After(n, operations[0].Key);
    }

    // Which calls fail is decided by a multiplicative hash of the call's number: spread out, not in step with the
    // caller's own sequence of calls (a plain every-nth would hit the same step of every attempt). The high bits are
    // used: the low ones keep the number's parity, and callers alternate reads and writes.
    private static bool Hit(int n, uint salt) => unchecked((((uint)n ^ salt) * 2654435761u) >> 16) % 12u == 0;

    private int Before(string key)
    {
        if (!_affects(key))
        {
            return -1;
        }

        var n = Interlocked.Increment(ref _calls);
        if (Hit(n, 0))
        {
            Interlocked.Increment(ref _failures);
            throw new StateStoreException($"store unavailable ({key})");
        }

        return n;
    }

    private void After(int n, string key)
    {
        if (n >= 0 && Hit(n, 0x5bd1e995))
        {
            Interlocked.Increment(ref _lostAnswers);
            throw new StateStoreException($"the store's answer was lost ({key}); the write was applied");
        }
    }
}
