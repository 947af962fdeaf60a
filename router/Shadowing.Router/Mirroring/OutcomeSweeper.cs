using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
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
/// by the next one.
/// </summary>
internal sealed partial class OutcomeSweeper(IStateStore store, TimeProvider time, IOptions<RouterOptions> options, ILogger<OutcomeSweeper> logger) : BackgroundService
{
    private static readonly TimeSpan OneHour = TimeSpan.FromHours(1);
    private readonly TimeSpan _retention = options.Value.Mirroring.OutcomeRetention;

    /// <summary>How often the sweep runs.</summary>
    public static TimeSpan SweepInterval { get; } = TimeSpan.FromMinutes(10);

    /// <summary>Deletes the slots of every listed hour that ended more than the retention ago; returns how many it deleted.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - _retention;
        var deleted = 0;
        foreach (var key in await store.ListKeysAsync(StateKeys.OutcomeHoursPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (await store.GetJsonAsync<OutcomeHours>(key, cancellationToken).ConfigureAwait(false) is not { } entry)
            {
                continue;
            }

            var service = entry.Value.Service;
            var expired = entry.Value.Hours.Where(h => h.Hour + OneHour <= cutoff).ToHashSet();
            if (expired.Count == 0)
            {
                continue;
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
            deleted += slots;
            LogSwept(slots, service, expired.Count, _retention);
        }

        return deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await BackgroundLoop.RunOnceAsync("outcome-sweeper", SweepAsync, LogSweepFailed, stoppingToken).ConfigureAwait(false)
            && await BackgroundLoop.WaitAsync(SweepInterval, time, stoppingToken).ConfigureAwait(false))
        {
        }
    }

    [LoggerMessage(EventId = 87, Level = LogLevel.Information, Message = "Deleted {Slots} outcome slot(s) of service {Service} in {Hours} endpoint-hour(s) older than the retention ({Retention})")]
    private partial void LogSwept(int slots, string service, int hours, TimeSpan retention);

    [LoggerMessage(EventId = 88, Level = LogLevel.Warning, Message = "Deleting old mirror outcomes failed; the next sweep tries again")]
    private partial void LogSweepFailed(Exception error);
}
