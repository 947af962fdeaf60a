using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Metrics;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;

namespace Shadowing.Router.Retention;

/// <summary>
/// Every <see cref="SweepInterval"/> (and once at start) deletes what the routers wrote that is past its retention:
/// outcome slots of hours that ended more than <c>Router:Mirroring:OutcomeRetention</c> ago (a shadow mirrored to at
/// 30 copies a second used to leave about 56 MB an hour for good), and per-minute metrics of days that ended more than
/// <c>Router:MetricsRetention</c> ago. Every router replica sweeps; deleting a key twice is harmless. Each sweep also
/// moves per-minute metrics found in the layout of earlier versions (<see cref="StateKeys.LegacyMetricsPrefix"/>, still
/// written by older replicas during an upgrade) to where readers find them now.
/// </summary>
internal sealed partial class RetentionSweeper(IStateStore store, TimeProvider time, IRandomSource random, IOptions<RouterOptions> options, ILogger<RetentionSweeper> logger) : BackgroundService
{
    private readonly RetentionLedger[] _ledgers = [Outcomes(store, time, options.Value), Metrics(store, time, options.Value)];

    /// <summary>How often the sweep runs, on average: each wait is drawn from ±25 % of it, so replicas started together drift apart.</summary>
    public static TimeSpan SweepInterval { get; } = TimeSpan.FromMinutes(10);

    /// <summary>The ledger of mirror outcome slots, one collection per endpoint-hour.</summary>
    public static RetentionLedger Outcomes(IStateStore store, TimeProvider time, RouterOptions? options) =>
        new(store, time, "outcome-slots", (options ?? new RouterOptions()).Mirroring.OutcomeRetention);

    /// <summary>The ledger of per-minute metrics, one collection per service-day.</summary>
    public static RetentionLedger Metrics(IStateStore store, TimeProvider time, RouterOptions? options) =>
        new(store, time, "metrics", (options ?? new RouterOptions()).MetricsRetention);

    /// <summary>A service-day of per-minute metrics as a collection of <see cref="Metrics"/>.</summary>
    public static RetainedCollection MetricsDay(string service, DateOnly day) =>
        new(StateKeys.MetricsOn(service, day), new DateTimeOffset(day.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));

    /// <summary>Moves metrics of the earlier layout, then deletes every listed collection past its retention; returns how many keys it deleted.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        await MoveLegacyMetricsAsync(cancellationToken).ConfigureAwait(false);
        var deleted = 0;
        foreach (var ledger in _ledgers)
        {
            foreach (var key in await ledger.KeysAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    var (service, collections, keys) = await ledger.SweepAsync(key, cancellationToken).ConfigureAwait(false);
                    if (collections > 0)
                    {
                        LogSwept(keys, ledger.Kind, service, collections, ledger.Retention);
                    }

                    deleted += keys;
                }
                catch (Exception ex) when (ex is StateStoreException or System.Text.Json.JsonException)
                {
                    LogServiceFailed(ex, key); // the other services are still swept; this one at the next sweep
                }
            }
        }

        return deleted;
    }

    /// <summary>
    /// Merges each day of <c>metrics/{service}/{endpoint}/{day}</c> into <c>metrics-by-day/{service}/{day}/{endpoint}</c>
    /// (records already there by id are not merged twice) and deletes it, checking its ETag, so an older replica's write
    /// in between is moved by the next sweep instead of being lost. Days past the retention are only deleted.
    /// </summary>
    private async Task MoveLegacyMetricsAsync(CancellationToken cancellationToken)
    {
        var ledger = _ledgers[1];
        var moved = 0;
        foreach (var key in await store.ListKeysAsync(StateKeys.LegacyMetricsPrefix, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (await store.GetJsonAsync<EndpointMetricsDay>(key, cancellationToken).ConfigureAwait(false) is not { } entry)
                {
                    continue;
                }

                var day = entry.Value;
                var collection = MetricsDay(day.Service, day.Day);
                if (ledger.Writable(collection.Ends.AddDays(-1)))
                {
                    await ledger.ListAsync(day.Service, collection, cancellationToken).ConfigureAwait(false);
                    await store.UpdateJsonAsync<EndpointMetricsDay>(
                        StateKeys.Metrics(day.Service, day.EndpointId, day.Day),
                        current => day.Minutes.Aggregate(current ?? day with { Minutes = [] }, (merged, minute) => merged.With(minute)),
                        cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                await store.DeleteAsync(key, entry.ETag, cancellationToken).ConfigureAwait(false);
                moved++;
            }
            catch (Exception ex) when (ex is StateStoreException or System.Text.Json.JsonException)
            {
                LogMoveFailed(ex, key);
            }
        }

        if (moved > 0)
        {
            LogMoved(moved);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await BackgroundLoop.RunOnceAsync("retention-sweeper", SweepAsync, LogSweepFailed, stoppingToken).ConfigureAwait(false)
            && await BackgroundLoop.WaitAsync(SweepInterval * (0.75 + (0.5 * random.NextDouble())), time, stoppingToken).ConfigureAwait(false))
        {
        }
    }

    [LoggerMessage(EventId = 87, Level = LogLevel.Information, Message = "Deleted {Keys} key(s) of {Kind} of service {Service} in {Collections} collection(s) older than the retention ({Retention})")]
    private partial void LogSwept(int keys, string kind, string service, int collections, TimeSpan retention);

    [LoggerMessage(EventId = 79, Level = LogLevel.Warning, Message = "Deleting the old data listed at {Key} failed; the next sweep tries again")]
    private partial void LogServiceFailed(Exception error, string key);

    [LoggerMessage(EventId = 88, Level = LogLevel.Warning, Message = "Deleting old mirror outcomes and metrics failed; the next sweep tries again")]
    private partial void LogSweepFailed(Exception error);

    [LoggerMessage(EventId = 43, Level = LogLevel.Information, Message = "Moved {Days} endpoint-day(s) of per-minute metrics from metrics/ (the layout of earlier versions) to metrics-by-day/")]
    private partial void LogMoved(int days);

    [LoggerMessage(EventId = 44, Level = LogLevel.Warning, Message = "Moving the per-minute metrics at {Key} to metrics-by-day/ failed; the next sweep tries again")]
    private partial void LogMoveFailed(Exception error, string key);
}
