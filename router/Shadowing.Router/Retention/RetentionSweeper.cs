using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;

namespace Shadowing.Router.Retention;

/// <summary>
/// Every <see cref="SweepInterval"/> (and once at start) deletes what the routers wrote that is past its retention:
/// outcome slots of hours that ended more than <c>Router:Mirroring:OutcomeRetention</c> ago (a shadow mirrored to at
/// 30 copies a second used to leave about 56 MB an hour for good), and per-minute metrics of days that ended more than
/// <c>Router:MetricsRetention</c> ago. Every router replica sweeps; deleting a key twice is harmless. What the version
/// before this layout wrote (and older replicas write during an upgrade) is swept too: per-minute metrics at
/// <c>metrics/{service}/{endpoint}/{day}</c>, which readers still read, and the hours listed at <c>outcome-hours/{service}</c>,
/// which are taken into the outcome ledger.
/// </summary>
internal sealed partial class RetentionSweeper(IStateStore store, TimeProvider time, IRandomSource random, IOptions<RouterOptions> options, ILogger<RetentionSweeper> logger) : BackgroundService
{
    private const string LegacyOutcomeHoursPrefix = "outcome-hours/";
    private readonly RetentionLedger _outcomes = Outcomes(store, time, options.Value);
    private readonly RetentionLedger _metrics = Metrics(store, time, options.Value);

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

    /// <summary>Deletes every listed collection past its retention, and the earlier layout's metrics past it; returns how many keys it deleted.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var deleted = 0;

        // Each part on its own: one that cannot list (a store error, a broken index) does not hold up the others.
        foreach (var (what, part) in new (string, Func<CancellationToken, Task<int>>)[]
        {
            (LegacyOutcomeHoursPrefix, AdoptLegacyOutcomeHoursAsync),
            (StateKeys.LegacyMetricsPrefix, DeleteLegacyMetricsAsync),
            (StateKeys.Retention(_outcomes.Kind, string.Empty), ct => SweepLedgerAsync(_outcomes, ct)),
            (StateKeys.Retention(_metrics.Kind, string.Empty), ct => SweepLedgerAsync(_metrics, ct)),
        })
        {
            try
            {
                deleted += await part(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogServiceFailed(ex, what);
            }
        }

        return deleted;
    }

    private async Task<int> SweepLedgerAsync(RetentionLedger ledger, CancellationToken cancellationToken)
    {
        var deleted = 0;
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
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogServiceFailed(ex, key); // the other services are still swept; this one at the next sweep
            }
        }

        return deleted;
    }

    /// <summary>
    /// Deletes the days of <c>metrics/{service}/{endpoint}/{day}</c> that ended more than the retention ago, by their key
    /// alone (no document is read). Readers still read the later ones: nothing is moved, so nothing can be counted twice.
    /// </summary>
    private async Task<int> DeleteLegacyMetricsAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - _metrics.Retention;
        var deleted = 0;
        foreach (var key in await store.ListKeysAsync(StateKeys.LegacyMetricsPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (StateKeys.LegacyMetricsDayOf(key) is { } day && MetricsDay(string.Empty, day).Ends <= cutoff)
            {
                await store.DeleteAsync(key, etag: null, cancellationToken).ConfigureAwait(false);
                deleted++;
            }
        }

        if (deleted > 0)
        {
            LogLegacyMetricsSwept(deleted, _metrics.Retention);
        }

        return deleted;
    }

    /// <summary>
    /// Lists each hour of <c>outcome-hours/{service}</c> (the list before <c>retention/outcome-slots/</c>) in the outcome
    /// ledger, then removes those hours from the old list with its ETag, leaving the (empty) document: deleting it would
    /// restart its version on Redis, where an older replica's re-creation could then be deleted unread. An hour an older
    /// replica adds in between is taken at the next sweep.
    /// </summary>
    private async Task<int> AdoptLegacyOutcomeHoursAsync(CancellationToken cancellationToken)
    {
        foreach (var key in await store.ListKeysAsync(LegacyOutcomeHoursPrefix, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (await store.GetJsonAsync<LegacyOutcomeHours>(key, cancellationToken).ConfigureAwait(false) is not { Value: { Hours.Count: > 0 } old })
                {
                    continue;
                }

                foreach (var hour in old.Hours.Where(h => !string.IsNullOrWhiteSpace(h.Endpoint)))
                {
                    await _outcomes.ListAsync(old.Service, new RetainedCollection(StateKeys.OutcomesOf(old.Service, hour.Endpoint, hour.Hour), hour.Hour.AddHours(1)), cancellationToken).ConfigureAwait(false);
                }

                var adopted = old.Hours.ToHashSet();
                await store.UpdateJsonAsync<LegacyOutcomeHours>(
                    key,
                    current => (current ?? old) with { Hours = [.. (current?.Hours ?? []).Where(h => !adopted.Contains(h))] },
                    cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogServiceFailed(ex, key); // the other services' lists are still taken
            }
        }

        return 0;
    }

    /// <summary>The outcome hours of a service as the version before the ledger listed them.</summary>
    private sealed record LegacyOutcomeHours(string Service, IReadOnlyList<LegacyOutcomeHour> Hours);

    private sealed record LegacyOutcomeHour(string Endpoint, DateTimeOffset Hour);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await BackgroundLoop.RunOnceAsync("retention-sweeper", SweepAsync, LogSweepFailed, stoppingToken).ConfigureAwait(false)
            && await BackgroundLoop.WaitAsync(SweepInterval * (0.75 + (0.5 * random.NextDouble())), time, stoppingToken).ConfigureAwait(false))
        {
        }
    }

    [LoggerMessage(EventId = 87, Level = LogLevel.Information, Message = "Deleted {Keys} key(s) of {Kind} of service {Service} in {Collections} collection(s) older than the retention ({Retention})")]
    private partial void LogSwept(int keys, string kind, string service, int collections, TimeSpan retention);

    [LoggerMessage(EventId = 79, Level = LogLevel.Warning, Message = "Deleting the old data at {Key} failed; the next sweep tries again")]
    private partial void LogServiceFailed(Exception error, string key);

    [LoggerMessage(EventId = 88, Level = LogLevel.Warning, Message = "Deleting old mirror outcomes and metrics failed; the next sweep tries again")]
    private partial void LogSweepFailed(Exception error);

    [LoggerMessage(EventId = 43, Level = LogLevel.Information, Message = "Deleted {Days} endpoint-day(s) of per-minute metrics in the layout before metrics-by-day/ older than the retention ({Retention})")]
    private partial void LogLegacyMetricsSwept(int days, TimeSpan retention);
}
