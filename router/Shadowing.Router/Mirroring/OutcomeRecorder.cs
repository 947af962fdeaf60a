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
/// </summary>
internal sealed partial class OutcomeRecorder(IStateStore store, TimeProvider time, ILogger<OutcomeRecorder> logger) : BackgroundService
{
    /// <summary>Outcomes held between flushes at most.</summary>
    public const int MaxPending = 100_000;

    /// <summary>How often outcomes are written.</summary>
    public static TimeSpan FlushInterval { get; } = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<MirrorOutcome> _pending = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);
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
    public async Task FlushAsync(CancellationToken cancellationToken)
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
                try
                {
                    await store.UpdateJsonAsync<OutcomeMinute>(
                        StateKeys.Outcomes(group.Key.Service, group.Key.Endpoint, group.Key.Minute),
                        minute => (minute ?? new OutcomeMinute { Service = group.Key.Service, Endpoint = group.Key.Endpoint, Minute = group.Key.Minute }).With(group),
                        cancellationToken: cancellationToken).ConfigureAwait(false);
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
        }
        finally
        {
            _flushing.Release();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await BackgroundLoop.RunOnceAsync("outcome-recorder", FlushAsync, LogFlushFailed, CancellationToken.None).ConfigureAwait(false);
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

    private static DateTimeOffset MinuteOf(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);

    [LoggerMessage(EventId = 83, Level = LogLevel.Warning, Message = "Could not write mirror outcomes of {Service}/{Endpoint}; they are kept for the next flush")]
    private partial void LogWriteFailed(Exception error, string service, string endpoint);

    [LoggerMessage(EventId = 84, Level = LogLevel.Error, Message = "Writing mirror outcomes failed unexpectedly")]
    private partial void LogFlushFailed(Exception error);
}
