using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Router.Retention;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// Keeps the outcomes of the copies this router sent, for validation: every <see cref="FlushInterval"/> it merges
/// them into <c>outcome-slots/{service}/{endpoint}/{hour}/{minute and second}</c> (<see cref="OutcomeSlot"/>: capped per 4 s, a request
/// counted once across replicas). Outcomes that cannot be written wait for the next flush, up to
/// <see cref="MaxPending"/>; beyond it new ones are dropped and counted. On shutdown the rest is written.
/// A full slot keeps the outcomes of lowest <see cref="OutcomeSlot.Rank"/> (a hash of the request id), not the first to
/// complete, so slow answers and timeouts are sampled as often as fast ones. Outcomes for a slot already full are written
/// again only if one ranks below the highest kept; the others are only counted, and the count is added to its
/// <see cref="OutcomeSlot.Dropped"/> once, <see cref="DropCountDelay"/> after the slot ends. A busy endpoint fills a slot
/// in a second or two, so a flush with nothing new to keep does not rewrite it. Each endpoint-hour is listed in
/// <c>retention/outcome-slots/{service}</c> before its first slot is written, for the <see cref="RetentionSweeper"/>.
/// </summary>
internal sealed partial class OutcomeRecorder(IStateStore store, TimeProvider time, ILogger<OutcomeRecorder> logger, IOptions<RouterOptions>? options = null) : BackgroundService
{
    private readonly RetentionLedger _ledger = RetentionSweeper.Outcomes(store, time, options?.Value);

    /// <summary>Outcomes held between flushes at most.</summary>
    public const int MaxPending = 100_000;

    /// <summary>How often outcomes are written.</summary>
    public static TimeSpan FlushInterval { get; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long after a full slot ends its drop count is written: copies still in flight at its end come back within the
    /// mirror timeout (10 s by default), and their drops are counted with it. Later ones take the document's own path.
    /// </summary>
    public static TimeSpan DropCountDelay { get; } = TimeSpan.FromMinutes(1);

    private readonly ConcurrentQueue<MirrorOutcome> _pending = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);

    // Slots seen full, the rank an outcome must be below to be kept in one, and the outcomes dropped for them since
    // (only touched under _flushing).
    private readonly Dictionary<string, (string Service, string Endpoint, DateTimeOffset Start, ulong Threshold, long Dropped)> _full = new(StringComparer.Ordinal);

    private int _count;
    private long _dropped;

    /// <summary>
    /// Outcomes dropped because too many were waiting, or because their hour started longer ago than the retention
    /// (<see cref="MirroringOptions.OutcomeRetention"/>; outcomes of copies time-shifted that far, or held that long by a
    /// store outage).
    /// </summary>
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

    /// <summary>As <see cref="FlushAsync(CancellationToken)"/>; <paramref name="final"/> also writes the drop counts of full slots not yet over.</summary>
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

            // Hours that started more than the retention ago are not written (see RetentionLedger). A flush cut short (the
            // shutdown's cancellation) leaves what it had not written for the next one; one an error no write expects ends
            // drops the group it failed on (counted), so the next flush does not fail on it again, and keeps the rest.
            var groups = taken.GroupBy(o => (o.Service, Endpoint: OutcomeSlot.EndpointOf(o), Start: OutcomeSlot.StartOf(o.ReceivedAt))).ToList();
            var done = 0;
            List<MirrorOutcome>? writing = null; // the group being written, as far as it is still to be written
            var cancelled = false;
            try
            {
                for (; done < groups.Count; done++)
                {
                    var group = groups[done];
                    writing = null;
                    var (service, endpoint, start) = group.Key;
                    if (!_ledger.Writable(OutcomeSlot.HourOf(start)))
                    {
                        Interlocked.Add(ref _dropped, group.Count());
                        LogTooOld(group.Count(), service, endpoint, start, _ledger.Retention);
                        continue;
                    }

                    var key = StateKeys.Outcomes(service, endpoint, start);
                    var outcomes = group.ToList();
                    if (_full.TryGetValue(key, out var full))
                    {
                        // The slot keeps the outcomes of lowest rank: only one below its highest displaces a kept one.
                        var below = outcomes.Where(o => OutcomeSlot.Rank(o.RequestId) < full.Threshold).ToList();
                        _full[key] = full with { Dropped = full.Dropped + outcomes.Count - below.Count };
                        if (below.Count == 0)
                        {
                            continue;
                        }

                        outcomes = below;
                    }

                    writing = outcomes;
                    try
                    {
                        var hour = OutcomeSlot.HourOf(start);
                        await _ledger.ListAsync(service, new RetainedCollection(StateKeys.OutcomesOf(service, endpoint, hour), hour.AddHours(1)), cancellationToken).ConfigureAwait(false);
                        var written = await store.UpdateJsonAsync<OutcomeSlot>(
                            key,
                            slot => (slot ?? new OutcomeSlot { Service = service, Endpoint = endpoint, Start = start }).With(outcomes),
                            cancellationToken: cancellationToken).ConfigureAwait(false);
                        if (written.Threshold is { } threshold)
                        {
                            _full[key] = (service, endpoint, start, threshold, _full.TryGetValue(key, out var before) ? before.Dropped : 0);
                        }
                    }
                    catch (StateStoreException ex)
                    {
                        LogWriteFailed(ex, service, endpoint);
                        foreach (var outcome in outcomes)
                        {
                            Add(outcome);
                        }
                    }
                    catch (System.Text.Json.JsonException ex)
                    {
                        // A slot that no longer reads (written by hand, cut short): these outcomes can never be added to it.
                        Interlocked.Add(ref _dropped, outcomes.Count);
                        LogSlotUnreadable(ex, key, outcomes.Count);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                cancelled = true; // the shutdown's, or a call's own timeout: the group is kept either way
                throw;
            }
            finally
            {
                if (done < groups.Count)
                {
                    var failed = writing ?? [.. groups[done]];
                    if (cancelled || cancellationToken.IsCancellationRequested)
                    {
                        foreach (var outcome in failed)
                        {
                            Add(outcome);
                        }
                    }
                    else
                    {
                        Interlocked.Add(ref _dropped, failed.Count);
                    }

                    foreach (var outcome in groups.Skip(done + 1).SelectMany(g => g))
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
    /// Adds what was dropped for each full slot that is over (<see cref="DropCountDelay"/> past its end; all of them when
    /// <paramref name="final"/>) to its document, once. A slot whose count cannot be written keeps it for the next flush;
    /// outcomes of a slot that arrive after it left this list take the document's own path again.
    /// </summary>
    private async Task WriteDropCountsAsync(bool final, CancellationToken cancellationToken)
    {
        var over = time.GetUtcNow() - OutcomeSlot.Length - DropCountDelay;
        foreach (var (key, full) in _full.Where(f => final || f.Value.Start <= over).ToArray())
        {
            if (!_ledger.Writable(OutcomeSlot.HourOf(full.Start)))
            {
                _full.Remove(key); // kept waiting by the store past the retention: the sweep may be deleting the slot
                continue;
            }

            try
            {
                if (full.Dropped > 0)
                {
                    await store.UpdateJsonAsync<OutcomeSlot>(
                        key,
                        slot => (slot ?? new OutcomeSlot { Service = full.Service, Endpoint = full.Endpoint, Start = full.Start }) with
                        {
                            Dropped = (slot?.Dropped ?? 0) + full.Dropped,
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

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Mirror outcome slot {Key} cannot be read; {Count} outcome(s) for it dropped (counted)")]
    private partial void LogSlotUnreadable(Exception error, string key, int count);

    [LoggerMessage(EventId = 83, Level = LogLevel.Warning, Message = "Could not write mirror outcomes of {Service}/{Endpoint}; they are kept for the next flush")]
    private partial void LogWriteFailed(Exception error, string service, string endpoint);

    [LoggerMessage(EventId = 86, Level = LogLevel.Warning, Message = "Could not add the outcomes dropped for the full slot {Key}; kept for the next flush")]
    private partial void LogDropCountFailed(Exception error, string key);

    [LoggerMessage(EventId = 89, Level = LogLevel.Warning, Message = "Dropped {Count} mirror outcome(s) of {Service}/{Endpoint} received at {Start}: their hour started longer ago than Router:Mirroring:OutcomeRetention ({Retention}) keeps")]
    private partial void LogTooOld(int count, string service, string endpoint, DateTimeOffset start, TimeSpan retention);

    [LoggerMessage(EventId = 84, Level = LogLevel.Error, Message = "Writing mirror outcomes failed unexpectedly")]
    private partial void LogFlushFailed(Exception error);
}
