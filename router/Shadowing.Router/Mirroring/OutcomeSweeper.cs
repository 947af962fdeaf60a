using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// The hours in which a service's endpoints have outcome slots, at <c>outcome-hours/{service}</c>: the
/// <see cref="OutcomeRecorder"/> lists an hour here before it writes the first slot of it, and the
/// <see cref="OutcomeSweeper"/> deletes the hour's slots and then the entry.
/// </summary>
internal sealed record OutcomeHours
{
    public required string Service { get; init; }

    public IReadOnlyList<OutcomeHour> Hours { get; init; } = [];
}

/// <summary>One endpoint's UTC hour of outcome slots (<see cref="Hour"/> is the start of the hour).</summary>
internal sealed record OutcomeHour(string Endpoint, DateTimeOffset Hour);

/// <summary>
/// Deletes the outcome slots of every hour that ended more than <see cref="MirroringOptions.OutcomeRetention"/> ago, every
/// <see cref="SweepInterval"/> (and once at start): without it a shadow mirrored to at 30 copies a second left about
/// 56 MB of slots an hour in the store for good. Every router replica sweeps; deleting a slot twice is harmless, and an
/// hour leaves <c>outcome-hours/{service}</c> only after all its slots are gone, so a sweep that fails half-way is finished
/// by the next one. The recorder writes no hour that started more than the retention ago, so an hour is swept at least
/// an hour after its last write.
/// </summary>
internal sealed partial class OutcomeSweeper(IStateStore store, TimeProvider time, IRandomSource random, IOptions<RouterOptions> options, ILogger<OutcomeSweeper> logger) : BackgroundService
{
    private static readonly TimeSpan OneHour = TimeSpan.FromHours(1);
    private readonly TimeSpan _retention = options.Value.Mirroring.OutcomeRetention;

    /// <summary>How often the sweep runs, on average: each wait is drawn from ±25 % of it, so replicas started together drift apart.</summary>
    public static TimeSpan SweepInterval { get; } = TimeSpan.FromMinutes(10);

    /// <summary>Deletes the slots of every listed hour that ended more than the retention ago; returns how many it deleted.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - _retention;
        var deleted = 0;
        foreach (var key in await store.ListKeysAsync(StateKeys.OutcomeHoursPrefix, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                deleted += await SweepServiceAsync(key, cutoff, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StateStoreException or System.Text.Json.JsonException)
            {
                LogServiceFailed(ex, key); // the other services are still swept; this one at the next sweep
            }
        }

        return deleted;
    }

    /// <summary>Sweeps the hours listed at <paramref name="key"/> that ended by <paramref name="cutoff"/>.</summary>
    private async Task<int> SweepServiceAsync(string key, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        if (await store.GetJsonAsync<OutcomeHours>(key, cancellationToken).ConfigureAwait(false) is not { } entry)
        {
            return 0;
        }

        var service = entry.Value.Service;
        var expired = entry.Value.Hours.Where(h => h.Hour + OneHour <= cutoff).ToHashSet();
        if (expired.Count == 0)
        {
            return 0;
        }

        var slots = 0;
        foreach (var hour in expired)
        {
            foreach (var slot in await store.ListKeysAsync(StateKeys.OutcomesOf(service, hour.Endpoint, hour.Hour), cancellationToken).ConfigureAwait(false))
            {
                await store.DeleteAsync(slot, etag: null, cancellationToken).ConfigureAwait(false);
                slots++;
            }
        }

        // Only now: an hour whose slots could not all be deleted stays listed for the next sweep.
        await store.UpdateJsonAsync<OutcomeHours>(
            key,
            current => (current ?? new OutcomeHours { Service = service }) with { Hours = (current?.Hours ?? []).Where(h => !expired.Contains(h)).ToArray() },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        LogSwept(slots, service, expired.Count, _retention);
        return slots;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await BackgroundLoop.RunOnceAsync("outcome-sweeper", SweepAsync, LogSweepFailed, stoppingToken).ConfigureAwait(false)
            && await BackgroundLoop.WaitAsync(SweepInterval * (0.75 + (0.5 * random.NextDouble())), time, stoppingToken).ConfigureAwait(false))
        {
        }
    }

    [LoggerMessage(EventId = 87, Level = LogLevel.Information, Message = "Deleted {Slots} outcome slot(s) of service {Service} in {Hours} endpoint-hour(s) older than the retention ({Retention})")]
    private partial void LogSwept(int slots, string service, int hours, TimeSpan retention);

    [LoggerMessage(EventId = 79, Level = LogLevel.Warning, Message = "Deleting the old mirror outcomes listed at {Key} failed; the next sweep tries again")]
    private partial void LogServiceFailed(Exception error, string key);

    [LoggerMessage(EventId = 88, Level = LogLevel.Warning, Message = "Deleting old mirror outcomes failed; the next sweep tries again")]
    private partial void LogSweepFailed(Exception error);
}
