using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;

namespace Shadowing.TestUtilities.State;

/// <summary>Outcomes stored or read as the router's recorder keeps them: one document per endpoint and slot.</summary>
public static class StoredOutcomes
{
    /// <summary>Saves <paramref name="outcomes"/> into their slots (replacing what those slots held).</summary>
    public static async Task SaveAsync(IStateStore store, IEnumerable<MirrorOutcome> outcomes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var group in outcomes.GroupBy(o => (o.Service, Endpoint: OutcomeSlot.EndpointOf(o), Start: OutcomeSlot.StartOf(o.ReceivedAt))))
        {
            var slot = new OutcomeSlot { Service = group.Key.Service, Endpoint = group.Key.Endpoint, Start = group.Key.Start }.With(group);
            await store.SaveJsonAsync(StateKeys.Outcomes(group.Key.Service, group.Key.Endpoint, group.Key.Start), slot, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Every stored slot of <paramref name="endpoint"/>.</summary>
    public static async Task<IReadOnlyList<OutcomeSlot>> ReadAsync(IStateStore store, string service, string endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var slots = new List<OutcomeSlot>();
        foreach (var key in await store.ListKeysAsync($"{StateKeys.OutcomesPrefix}{service}/{endpoint}/", cancellationToken).ConfigureAwait(false))
        {
            slots.Add((await store.GetJsonAsync<OutcomeSlot>(key, cancellationToken).ConfigureAwait(false))!.Value);
        }

        return slots;
    }
}
