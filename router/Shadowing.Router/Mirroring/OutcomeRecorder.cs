using System.Collections.Concurrent;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// Keeps the outcomes of the copies this router sent, for validation: every <see cref="FlushInterval"/> it merges
/// them into <c>outcomes/{service}/{endpoint}/{minute}</c> (<see cref="OutcomeMinute"/>: capped per 10 s of the minute, a
/// request counted once across replicas). Outcomes that cannot be written wait for the next flush, up to
/// <see cref="MaxPending"/>; beyond it new ones are dropped and counted. On shutdown the rest is written.
/// Outcomes for a slot of a minute already full (<see cref="OutcomeMinute.PerSlot"/>) are not written again: they are
/// only counted, and the count is added to its <see cref="OutcomeMinute.Dropped"/> once, after the minute is over. A
/// busy endpoint fills each slot in a second or two, and a document nearing its cap is most of a megabyte, so a flush
/// with nothing new to keep does not rewrite it.
/// </summary>
internal sealed partial class OutcomeRecorder(IStateStore store, TimeProvider time, ILogger<OutcomeRecorder> logger) : BackgroundService
{
    /// <summary>Outcomes held between flushes at most.</summary>
    public const int MaxPending = 100_000;

    /// <summary>How often outcomes are written.</summary>
    public static TimeSpan FlushInterval { get; } = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<MirrorOutcome> _pending = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);

    // Minutes with a slot seen full: which slots (a bit each), and the outcomes dropped for them since (only touched under _flushing).
    private readonly Dictionary<string, (string Service, string Endpoint, DateTimeOffset Minute, int FullSlots, long Dropped)> _full = new(StringComparer.Ordinal);
    private int _count;
    private long _dropped;

    /// <summary>Outcomes dropped because too many were waiting.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues an outcome for the next flush; never waits.</summary>
    public void Add(MirrorOutcome outcome)
    {
        if (Interlocked.Increment(ref _count) > MaxPending)
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _dropped);
            return;
        }

        _pending.Enqueue(outcome);
    }

    /// <summary>Writes every queued outcome; what cannot be written is queued again.</summary>
    public Task FlushAsync(CancellationToken cancellationToken) => FlushAsync(final: false, cancellationToken);

    /// <summary>As <see cref="FlushAsync(CancellationToken)"/>; <paramref name="final"/> also writes the drop counts of full minutes not yet over.</summary>
    private async Task FlushAsync(bool final, CancellationToken cancellationToken)
    {
        await _flushing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var taken = new List<MirrorOutcome>();
            while (_pending.TryDequeue(out var outcome))
            {
                Interlocked.Decrement(ref _count);
                taken.Add(outcome);
            }

            foreach (var group in taken.GroupBy(o => (o.Service, Endpoint: OutcomeMinute.EndpointOf(o), Minute: MinuteOf(o.ReceivedAt))))
            {
                var key = StateKeys.Outcomes(group.Key.Service, group.Key.Endpoint, group.Key.Minute);
                var full = _full.GetValueOrDefault(key, (group.Key.Service, group.Key.Endpoint, group.Key.Minute, 0, 0));
                var open = group.Where(o => (full.FullSlots & (1 << OutcomeMinute.SlotOf(o.ReceivedAt))) == 0).ToList();
                full.Dropped += group.Count() - open.Count;
                if (open.Count == 0)
                {
                    _full[key] = full;
                    continue;
                }

                try
                {
                    var written = await store.UpdateJsonAsync<OutcomeMinute>(
                        key,
                        minute => (minute ?? new OutcomeMinute { Service = group.Key.Service, Endpoint = group.Key.Endpoint, Minute = group.Key.Minute }).With(open),
                        cancellationToken: cancellationToken).ConfigureAwait(false);
                    var kept = written.KeptPerSlot();
                    for (var slot = 0; slot < OutcomeMinute.Slots; slot++)
                    {
                        full.FullSlots |= kept[slot] >= OutcomeMinute.PerSlot ? 1 << slot : 0;
                    }
                }
                catch (StateStoreException ex)
                {
                    LogWriteFailed(ex, group.Key.Service, group.Key.Endpoint);
                    foreach (var outcome in open)
                    {
                        Add(outcome);
                    }
                }

                if (full.FullSlots != 0)
                {
                    _full[key] = full;
                }
            }

            await WriteDropCountsAsync(final, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _flushing.Release();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await BackgroundLoop.RunOnceAsync("outcome-recorder", ct => FlushAsync(final: true, ct), LogFlushFailed, CancellationToken.None).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _flushing.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await BackgroundLoop.WaitAsync(FlushInterval, time, stoppingToken).ConfigureAwait(false)
            && await BackgroundLoop.RunOnceAsync("outcome-recorder", FlushAsync, LogFlushFailed, stoppingToken).ConfigureAwait(false))
        {
        }
    }

    /// <summary>
    /// Adds what was dropped for each minute with a full slot that is over (a flush interval past its end, for copies still in
    /// flight at its end; all of them when <paramref name="final"/>) to its document, once. A minute whose count cannot be
    /// written keeps it for the next flush; outcomes of a minute that arrive after it left this list take the document's
    /// own path again.
    /// </summary>
    private async Task WriteDropCountsAsync(bool final, CancellationToken cancellationToken)
    {
        var over = time.GetUtcNow() - TimeSpan.FromMinutes(1) - FlushInterval;
        foreach (var (key, full) in _full.Where(f => final || f.Value.Minute <= over).ToArray())
        {
            try
            {
                if (full.Dropped > 0)
                {
                    await store.UpdateJsonAsync<OutcomeMinute>(
                        key,
                        document => (document ?? new OutcomeMinute { Service = full.Service, Endpoint = full.Endpoint, Minute = full.Minute }) with
                        {
                            Dropped = (document?.Dropped ?? 0) + full.Dropped,
                        },
                        cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                _full.Remove(key);
            }
            catch (StateStoreException ex)
            {
                LogDropCountFailed(ex, key);
            }
        }
    }

    private static DateTimeOffset MinuteOf(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);

    [LoggerMessage(EventId = 83, Level = LogLevel.Warning, Message = "Could not write mirror outcomes of {Service}/{Endpoint}; they are kept for the next flush")]
    private partial void LogWriteFailed(Exception error, string service, string endpoint);

    [LoggerMessage(EventId = 86, Level = LogLevel.Warning, Message = "Could not add the outcomes dropped for the full slots of minute {Key}; kept for the next flush")]
    private partial void LogDropCountFailed(Exception error, string key);

    [LoggerMessage(EventId = 84, Level = LogLevel.Error, Message = "Writing mirror outcomes failed unexpectedly")]
    private partial void LogFlushFailed(Exception error);
}
