using System.Text.Json;
using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Core.Routing;

/// <summary>
/// Reads and writes routing tables (<c>routing/{service}</c>) and announces every write on
/// <see cref="Topics.RoutingChanged"/>. Writes are validated first; updates use ETags.
/// </summary>
/// <remarks>
/// The state write and the announcement are not atomic. The announcement only saves routers their wait for the next
/// poll (<c>Router:PollInterval</c>, 10 s by default), so a pub/sub that refuses it (<see cref="EventBusException"/>)
/// does not fail a write that is already stored: a lifecycle step or an operator's change stands, and routers pick it
/// up on their poll. The pub/sub's own failures show wherever else it is used (shadow requests, verdicts, alerts).
/// </remarks>
public sealed class RoutingTableStore(IStateStore store, IEventBus bus)
{
    /// <summary>Every stored routing table with its ETag, ordered by service.</summary>
    /// <exception cref="JsonException">A stored table cannot be read.</exception>
    public Task<IReadOnlyList<StateEntry<RoutingTable>>> ListAsync(CancellationToken cancellationToken = default) =>
        ListAsync(unreadable: null, cancellationToken);

    /// <summary>
    /// Every stored routing table that can be read, with its ETag, ordered by service. A table that cannot be read (one
    /// written by hand, or by a newer version with a state this one does not know) is left out and handed to
    /// <paramref name="unreadable"/> with the reason, so that one bad document does not stop a pass over every service.
    /// </summary>
    public async Task<IReadOnlyList<StateEntry<RoutingTable>>> ListAsync(Action<string, JsonException>? unreadable, CancellationToken cancellationToken = default)
    {
        var services = await ListServicesAsync(cancellationToken).ConfigureAwait(false);
        var tables = new List<StateEntry<RoutingTable>>(services.Count);
        foreach (var service in services)
        {
            StateEntry<RoutingTable>? entry;
            try
            {
                entry = await GetAsync(service, cancellationToken).ConfigureAwait(false);
            }
            catch (JsonException ex) when (unreadable is not null)
            {
                unreadable(service, ex);
                continue;
            }

            // A table deleted between listing and reading is simply gone.
            if (entry is not null)
            {
                tables.Add(entry);
            }
        }

        return tables;
    }

    /// <summary>The names of every service with a stored routing table, in ordinal order.</summary>
    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken = default)
    {
        var keys = await store.ListKeysAsync(StateKeys.RoutingPrefix, cancellationToken).ConfigureAwait(false);
        return keys.Select(k => k[StateKeys.RoutingPrefix.Length..]).Where(s => !s.Contains('/', StringComparison.Ordinal)).ToArray();
    }

    /// <summary>The routing table of <paramref name="service"/>, or <c>null</c>.</summary>
    public Task<StateEntry<RoutingTable>?> GetAsync(string service, CancellationToken cancellationToken = default) =>
        store.GetJsonAsync<RoutingTable>(StateKeys.Routing(service), cancellationToken);

    /// <summary>Validates and stores <paramref name="table"/>, replacing whatever was there, and announces it.</summary>
    /// <exception cref="RoutingTableValidationException">The table is invalid; nothing was written.</exception>
    public async Task PutAsync(RoutingTable table, CancellationToken cancellationToken = default)
    {
        RoutingTableValidator.EnsureValidNew(table);
        await EnsureNoCaseTwinAsync(table.Service, cancellationToken).ConfigureAwait(false);

        await store.SaveJsonAsync(StateKeys.Routing(table.Service), table, etag: null, cancellationToken).ConfigureAwait(false);
        await AnnounceAsync(table.Service, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Validates and stores <paramref name="table"/> unless the service already has one; announces it when written.</summary>
    /// <returns>Whether it was written (false: a table was there and is kept).</returns>
    /// <exception cref="RoutingTableValidationException">The table is invalid; nothing was written.</exception>
    public async Task<bool> CreateAsync(RoutingTable table, CancellationToken cancellationToken = default)
    {
        RoutingTableValidator.EnsureValid(table);
        if (await FindCaseTwinAsync(table.Service, cancellationToken).ConfigureAwait(false) is not null)
        {
            return false; // the service has a table, under another case: it is kept, as its own would be
        }

        // The rules added since tables were first stored apply only when this writes: a stored table is kept as it is.
        if (RoutingTableValidator.ValidateNew(table) is { Count: > 0 } errors)
        {
            return await GetAsync(table.Service, cancellationToken).ConfigureAwait(false) is null
                ? throw new RoutingTableValidationException(table.Service, errors)
                : false;
        }

        if (!await store.TryCreateAsync(StateKeys.Routing(table.Service), Serialization.ShadowingJson.Serialize(table), cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        await AnnounceAsync(table.Service, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// A stored service whose name differs only in case from <paramref name="service"/>, when <paramref name="service"/>
    /// itself has no table: keys are case-sensitive, but the router matches services ignoring case (as URLs are usually
    /// matched), so a second table would take turns with the first routing one service. Null when there is none, or when
    /// <paramref name="service"/> is stored under its own name (a rewrite of its table).
    /// </summary>
    public async Task<string?> FindCaseTwinAsync(string service, CancellationToken cancellationToken = default)
    {
        var services = await ListServicesAsync(cancellationToken).ConfigureAwait(false);
        return services.Contains(service, StringComparer.Ordinal) ? null
            : services.FirstOrDefault(s => string.Equals(s, service, StringComparison.OrdinalIgnoreCase));
    }

    private async Task EnsureNoCaseTwinAsync(string service, CancellationToken cancellationToken)
    {
        if (await FindCaseTwinAsync(service, cancellationToken).ConfigureAwait(false) is { } twin)
        {
            throw new RoutingTableValidationException(service, [new("service", $"'{service}' differs only in case from the stored service '{twin}', and the router matches service names ignoring case")]);
        }
    }

    /// <summary>
    /// Read-modify-write of one table with optimistic concurrency, validated before every attempt, then announced.
    /// <paramref name="change"/> may run more than once and must not have side effects.
    /// </summary>
    public async Task<RoutingTable> UpdateAsync(string service, Func<RoutingTable?, RoutingTable> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (await GetAsync(service, cancellationToken).ConfigureAwait(false) is null)
        {
            await EnsureNoCaseTwinAsync(service, cancellationToken).ConfigureAwait(false); // this update creates the table
        }
        var written = await store.UpdateJsonAsync<RoutingTable>(
            StateKeys.Routing(service),
            current =>
            {
                var next = change(current);
                if (!string.Equals(next.Service, service, StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"An update of service '{service}' returned a table for '{next.Service}'.");
                }

                RoutingTableValidator.EnsureValid(next);
                return next;
            },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        await AnnounceAsync(service, cancellationToken).ConfigureAwait(false);
        return written;
    }

    /// <summary>
    /// Adds <paramref name="shadow"/> to the table of <paramref name="service"/>, or updates the address of the shadow with
    /// its id (everything else of it is kept: running this twice changes nothing). Retired shadows whose state changed
    /// before <paramref name="pruneRetiredBefore"/> are removed on the way.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The service has no routing table.</exception>
    /// <exception cref="InvalidOperationException">A retired shadow already has that id.</exception>
    public Task<RoutingTable> AddShadowAsync(string service, ShadowEndpoint shadow, DateTimeOffset pruneRetiredBefore, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shadow);
        return UpdateAsync(
            service,
            table =>
            {
                table = table ?? throw new KeyNotFoundException($"Service '{service}' has no routing table; shadows are added to existing services only.");
                var kept = table.Shadows
                    .Where(s => s.Id == shadow.Id || s.State != ShadowState.Retired || (s.StateChangedAt ?? DateTimeOffset.MaxValue) >= pruneRetiredBefore)
                    .ToList();
                var index = kept.FindIndex(s => s.Id == shadow.Id);
                if (index < 0)
                {
                    kept.Add(shadow);
                }
                else if (kept[index].State == ShadowState.Retired)
                {
                    throw new InvalidOperationException($"Service '{service}' has a retired shadow '{shadow.Id}'; a new shadow needs a new id.");
                }
                else
                {
                    // The same shadow again (its provisioning ran twice, or it was restarted elsewhere): only its address is
                    // new. What later steps and operators set (dataIsolated, which keeps real users off a copy, the limits)
                    // stays.
                    kept[index] = kept[index] with { Address = shadow.Address };
                }

                // A pruned shadow leaves the mirror's targets too (a target that is not a shadow fails validation); a list
                // left empty turns mirroring off, as it named no other shadow.
                var mirror = table.Mirror is { } policy && policy.Targets.Any(id => !kept.Exists(s => s.Id == id))
                    ? policy with { Targets = [.. policy.Targets.Where(id => kept.Exists(s => s.Id == id))], Enabled = policy.Enabled && policy.Targets.Any(id => kept.Exists(s => s.Id == id)) }
                    : table.Mirror;
                return table with { Shadows = kept, Mirror = mirror };
            },
            cancellationToken);
    }

    /// <summary>
    /// Moves shadow <paramref name="shadowId"/> to <paramref name="state"/> through the lifecycle's legal moves (several
    /// when needed, such as PreWarmed → Validating → WarmingUp), in one write. Nothing is written when it is already there.
    /// </summary>
    /// <returns>The state it was in before.</returns>
    /// <exception cref="KeyNotFoundException">No such service or shadow.</exception>
    /// <exception cref="InvalidShadowTransitionException">The lifecycle offers no way there.</exception>
    public Task<ShadowState> MoveShadowAsync(string service, string shadowId, ShadowState state, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        MoveAsync(service, shadowId, onlyFrom: null, state, now, cancellationToken);

    /// <summary>
    /// As <see cref="MoveShadowAsync"/>, but only when the shadow is in one of <paramref name="onlyFrom"/>, checked in the
    /// same ETag-checked write: a step that lost a race (its shadow moved on meanwhile) leaves it where it is.
    /// </summary>
    /// <returns>The state it was in before, moved or not.</returns>
    public Task<ShadowState> MoveShadowFromAsync(string service, string shadowId, IReadOnlyCollection<ShadowState> onlyFrom, ShadowState state, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onlyFrom);
        return MoveAsync(service, shadowId, onlyFrom, state, now, cancellationToken);
    }

    private async Task<ShadowState> MoveAsync(string service, string shadowId, IReadOnlyCollection<ShadowState>? onlyFrom, ShadowState state, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var before = ShadowOf((await GetAsync(service, cancellationToken).ConfigureAwait(false))?.Value, service, shadowId).State;
        if (before == state || onlyFrom?.Contains(before) == false)
        {
            return before;
        }

        await UpdateAsync(
            service,
            table =>
            {
                var from = ShadowOf(table, service, shadowId).State;
                before = from;
                if (from == state || onlyFrom?.Contains(from) == false)
                {
                    return table!;
                }

                var path = ShadowLifecycle.PathTo(from, state) ?? throw new InvalidShadowTransitionException(shadowId, from, state);
                return path.Aggregate(table!, (t, next) => t.WithShadowState(shadowId, next, now));
            },
            cancellationToken).ConfigureAwait(false);
        return before;
    }

    private async Task AnnounceAsync(string service, CancellationToken cancellationToken)
    {
        try
        {
            await bus.PublishAsync(Topics.RoutingChanged, new RoutingChanged(service), cancellationToken).ConfigureAwait(false);
        }
        catch (EventBusException) when (!cancellationToken.IsCancellationRequested)
        {
            // Stored already: routers read it on their next poll (see the class remarks). A cancelled caller still hears of it.
        }
    }

    /// <summary>Deletes the table of <paramref name="service"/> and announces it.</summary>
    public async Task DeleteAsync(string service, CancellationToken cancellationToken = default)
    {
        await store.DeleteAsync(StateKeys.Routing(service), etag: null, cancellationToken).ConfigureAwait(false);
        await AnnounceAsync(service, cancellationToken).ConfigureAwait(false);
    }

    private static ShadowEndpoint ShadowOf(RoutingTable? table, string service, string shadowId) =>
        (table ?? throw new KeyNotFoundException($"Service '{service}' has no routing table.")).Shadows.FirstOrDefault(s => s.Id == shadowId)
        ?? throw new KeyNotFoundException($"Service '{service}' has no shadow '{shadowId}'.");
}
