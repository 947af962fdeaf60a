using System.Collections.Concurrent;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// Keeps the outcomes of the copies this router sent, for validation: every <see cref="FlushInterval"/> it merges
/// them into <c>outcomes/{service}/{endpoint}/{minute}</c> (<see cref="OutcomeMinute"/>: capped per minute, a
/// request counted once across replicas). Outcomes that cannot be written wait for the next flush, up to
/// <see cref="MaxPending"/>; beyond it new ones are dropped and counted. On shutdown the rest is written.
/// A minute whose document is full (<see cref="OutcomeMinute.Cap"/>) is not rewritten at every flush: what else
/// arrives for it is only counted, and the count is added to its <see cref="OutcomeMinute.Dropped"/> once, after the
/// minute is over. A busy endpoint fills its minute in seconds, and the document is then about a megabyte.
/// </summary>
internal sealed partial class OutcomeRecorder(IStateStore store, TimeProvider time, ILogger<OutcomeRecorder> logger) : BackgroundService
{
    /// <summary>Outcomes held between flushes at most.</summary>
    public const int MaxPending = 100_000;

    /// <summary>How often outcomes are written.</summary>
    public static TimeSpan FlushInterval { get; } = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<MirrorOutcome> _pending = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);

    // Minutes seen full, with the outcomes dropped for them since (only touched under _flushing).
    private readonly Dictionary<string, (string Service, string Endpoint, DateTimeOffset Minute, long Dropped)> _full = new(StringComparer.Ordinal);
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
                if (_full.TryGetValue(key, out var full))
                {
                    _full[key] = full with { Dropped = full.Dropped + group.Count() };
                    continue;
                }

                try
                {
                    var written = await store.UpdateJsonAsync<OutcomeMinute>(
                        key,
                        minute => (minute ?? new OutcomeMinute { Service = group.Key.Service, Endpoint = group.Key.Endpoint, Minute = group.Key.Minute }).With(group),
                        cancellationToken: cancellationToken).ConfigureAwait(false);
                    if (written.Outcomes.Count >= OutcomeMinute.Cap)
                    {
                        _full[key] = (group.Key.Service, group.Key.Endpoint, group.Key.Minute, 0);
                    }
                }
                catch (StateStoreException ex)
                {
                    LogWriteFailed(ex, group.Key.Service, group.Key.Endpoint);
                    foreach (var outcome in group)
                    {
                        Add(outcome);
                    }
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
    /// Adds what was dropped for each full minute that is over (a flush interval past its end, for copies still in
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

    [LoggerMessage(EventId = 86, Level = LogLevel.Warning, Message = "Could not add the outcomes dropped for full minute {Key}; kept for the next flush")]
    private partial void LogDropCountFailed(Exception error, string key);

    [LoggerMessage(EventId = 84, Level = LogLevel.Error, Message = "Writing mirror outcomes failed unexpectedly")]
    private partial void LogFlushFailed(Exception error);
}
