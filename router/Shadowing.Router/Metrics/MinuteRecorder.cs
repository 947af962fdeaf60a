using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.State;
using Shadowing.Router.Retention;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Metrics;

/// <summary>
/// At each minute boundary, turns every endpoint's finished minutes into <see cref="EndpointMinuteRecord"/>s,
/// merges them into <c>metrics-by-day/{service}/{day}/{endpoint}@{hour}</c> and publishes them on topic <c>metrics</c>.
/// Each service-day is listed in <c>retention/metrics/{service}</c> before its first record is written, for the
/// <see cref="RetentionSweeper"/>; a record of a day that started more than <c>Router:MetricsRetention</c> ago is published
/// but not stored.
/// An endpoint with no traffic in a minute gets a zero record, so readers see a continuous series.
/// Records that cannot be written or published wait (in order, up to <see cref="MaxPending"/>) and are tried
/// again next minute; on shutdown the current partial minute is written too. How many wait is exported as
/// <c>shadowing_router_metric_records_pending</c>: above zero, the store or the bus is failing.
/// </summary>
internal sealed partial class MinuteRecorder(
    EndpointRegistry registry,
    RoutingTableCache cache,
    IStateStore store,
    IEventBus bus,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<MinuteRecorder> logger,
    IOptions<RouterOptions>? options = null) : BackgroundService
{
    private readonly RetentionLedger _ledger = RetentionSweeper.Metrics(store, time, options?.Value);

    /// <summary>Records kept while the store or bus is down (a day of 35 endpoints); older ones are dropped first.</summary>
    public const int MaxPending = 50_000;

    private readonly List<Pending> _pending = [];
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private readonly PendingGauge _pendingCount = new(meterFactory);

    // Record ids: this recorder's prefix and a sequence number, unique across replicas and restarts. A GUID, not the
    // IRandomSource: a seeded source shared by two replicas would give them one prefix, and each other's records would
    // be skipped as merged already.
    private readonly string _writer = Guid.NewGuid().ToString("N")[..16];
    private long _sequence;

    /// <summary>Records waiting to be written or published (read by the gauge, off the flushing thread).</summary>
    public int PendingRecords => Volatile.Read(ref _pendingCount.Value);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);

        // The last, partial minute: a failure here is logged and counted, never thrown at the host that is stopping.
        await BackgroundLoop.RunOnceAsync("minute-recorder", ct => FlushAsync(DateTimeOffset.MaxValue, ct), LogFlushFailed, CancellationToken.None).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _flushing.Dispose();
        base.Dispose();
    }

    /// <summary>Collects every minute that ended before <paramref name="before"/> and writes what is pending.</summary>
    public async Task FlushAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await _flushing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Collect(before);
            await WritePendingAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _flushing.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            var next = MinuteAccumulators.MinuteOf(now).AddMinutes(1);
            if (!await BackgroundLoop.WaitAsync(next - now, time, stoppingToken).ConfigureAwait(false)
                || !await BackgroundLoop.RunOnceAsync("minute-recorder", ct => FlushAsync(MinuteAccumulators.MinuteOf(time.GetUtcNow()), ct), LogFlushFailed, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private void Collect(DateTimeOffset before)
    {
        var previousMinute = before == DateTimeOffset.MaxValue ? (DateTimeOffset?)null : before.AddMinutes(-1);
        foreach (var runtime in registry.All)
        {
            var records = runtime.Minutes.TakeBefore(before, runtime.Role);
            if (previousMinute is { } minute && !records.Any(r => r.Minute == minute))
            {
                records.Add(new EndpointMinuteRecord { Service = runtime.Service, EndpointId = runtime.Id, Role = runtime.Role, Minute = minute, LatencyBuckets = new long[LatencyHistogram.BucketCount] });
            }

            _pending.AddRange(records.Select(Identify));
        }

        while (cache.Removed.TryDequeue(out var removed))
        {
            _pending.AddRange(removed.Minutes.TakeBefore(DateTimeOffset.MaxValue, removed.Role).Select(Identify));
        }

        if (_pending.Count > MaxPending)
        {
            var dropped = _pending.Count - MaxPending;
            _pending.RemoveRange(0, dropped);
            LogDropped(dropped);
        }
    }

    // An id per record, so that a write retried after its answer was lost is not merged into its hour twice.
    private Pending Identify(EndpointMinuteRecord record) => new(record with { RecordIds = [$"{_writer}-{++_sequence}"] });

    private async Task WritePendingAsync(CancellationToken cancellationToken)
    {
        var done = 0;
        var tooOld = 0;
        try
        {
            foreach (var pending in _pending)
            {
                var record = pending.Record;
                var utcDay = DateOnly.FromDateTime(record.Minute.UtcDateTime);
                var collection = RetentionSweeper.MetricsDay(record.Service, utcDay);
                if (!pending.Stored && !_ledger.Writable(collection.Ends.AddDays(-1)))
                {
                    tooOld++; // the sweep may be deleting its day: written there, it could be listed nowhere
                    pending.Stored = true;
                }
                else if (!pending.Stored)
                {
                    await _ledger.ListAsync(record.Service, collection, cancellationToken).ConfigureAwait(false);
                    await store.UpdateJsonAsync<EndpointMetricsDay>(
                        StateKeys.Metrics(record.Service, record.EndpointId, record.Minute),
                        hour => (hour ?? new EndpointMetricsDay { Service = record.Service, EndpointId = record.EndpointId, Day = utcDay, Hour = record.Minute.UtcDateTime.Hour }).With(record),
                        cancellationToken: cancellationToken).ConfigureAwait(false);

                    // Remember it is stored, so a publish failure does not write it again.
                    pending.Stored = true;
                }

                await bus.PublishAsync(Topics.Metrics, record, cancellationToken).ConfigureAwait(false);
                done++;
            }
        }
        catch (Exception ex) when (ex is StateStoreException or EventBusException)
        {
            LogWriteFailed(ex, _pending.Count - done);
        }
        finally
        {
            _pending.RemoveRange(0, done);
            Volatile.Write(ref _pendingCount.Value, _pending.Count);
            if (tooOld > 0)
            {
                LogTooOld(tooOld, _ledger.Retention);
            }
        }
    }

    [LoggerMessage(EventId = 45, Level = LogLevel.Warning, Message = "Did not store {Count} per-minute metric record(s), which are still published: their day started longer ago than Router:MetricsRetention ({Retention}) keeps")]
    private partial void LogTooOld(int count, TimeSpan retention);

    [LoggerMessage(EventId = 40, Level = LogLevel.Warning, Message = "Could not write per-minute metrics; {Pending} record(s) kept to retry next minute")]
    private partial void LogWriteFailed(Exception error, int pending);

    [LoggerMessage(EventId = 42, Level = LogLevel.Error, Message = "Recording per-minute metrics failed unexpectedly; the records stay pending and are tried again next minute")]
    private partial void LogFlushFailed(Exception error);

    [LoggerMessage(EventId = 41, Level = LogLevel.Error, Message = "Dropped the {Dropped} oldest per-minute metric record(s): the store has been unavailable too long")]
    private partial void LogDropped(int dropped);

    private sealed class Pending(EndpointMinuteRecord record)
    {
        public EndpointMinuteRecord Record { get; } = record;

        public bool Stored { get; set; }
    }

    /// <summary>The number of waiting records, exported as a gauge (created once with the recorder; the meter factory owns it).</summary>
    private sealed class PendingGauge
    {
        public int Value;

        public PendingGauge(IMeterFactory meterFactory) =>
            meterFactory.Create(RouterMetrics.MeterName).CreateObservableGauge(
                "shadowing.router.metric_records.pending",
                () => Volatile.Read(ref Value),
                "{record}",
                "Per-minute metric records waiting to be written to the store or published, because one of them failed.");
    }
}
