using Shadowing.Core.Metrics;
using Shadowing.Core.State;

namespace Shadowing.TestUtilities.Metrics;

/// <summary>Puts per-minute records where the router keeps them, for tests of their readers.</summary>
public static class RouterRecords
{
    /// <summary>
    /// Merges each record into its endpoint's document of its UTC hour (<see cref="StateKeys.Metrics"/>), as the router's
    /// minute flush does: records of a minute already stored add to it.
    /// </summary>
    public static async Task SaveAsync(IStateStore store, IEnumerable<EndpointMinuteRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(records);
        foreach (var record in records)
        {
            await store.UpdateJsonAsync<EndpointMetricsDay>(
                StateKeys.Metrics(record.Service, record.EndpointId, record.Minute),
                hour => (hour ?? new EndpointMetricsDay { Service = record.Service, EndpointId = record.EndpointId, Day = DateOnly.FromDateTime(record.Minute.UtcDateTime), Hour = record.Minute.UtcDateTime.Hour }).With(record),
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }
}
