using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Core.Validation;

/// <summary>What a promoted shadow becomes.</summary>
public enum PromotionTarget
{
    /// <summary>It stays a shadow, in state Active: ARC sends it traffic when production is unhealthy or overloaded.</summary>
    Active,

    /// <summary>It becomes a production endpoint, with its address and limits.</summary>
    Production,
}

/// <summary>A promotion the verdicts do not allow; the message says why.</summary>
public sealed class PromotionRefusedException(string message) : Exception(message);

/// <summary>
/// Promotes a shadow, refusing unless its latest verdict is Pass and younger than the service's
/// <see cref="ValidationSettings.VerdictMaxAge"/>. The routing-table change is one ETag-checked update.
/// </summary>
public sealed class ShadowPromotion(IStateStore store, IEventBus bus, TimeProvider time)
{
    private readonly RoutingTableStore _tables = new(store, bus);

    /// <summary>Promotes <paramref name="shadow"/> of <paramref name="service"/> and returns the new table.</summary>
    /// <exception cref="PromotionRefusedException">No recent Pass, or the shadow cannot be promoted from its state.</exception>
    public async Task<RoutingTable> PromoteAsync(string service, string shadow, PromotionTarget target, CancellationToken cancellationToken = default)
    {
        var verdict = (await store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict(service, shadow), cancellationToken).ConfigureAwait(false))?.Value;
        var now = time.GetUtcNow();
        return await _tables.UpdateAsync(service, table => Promote(table ?? throw new PromotionRefusedException($"Service '{service}' has no routing table."), shadow, target, verdict, now), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether <paramref name="shadowId"/> already is what promoting it to <paramref name="target"/> makes it (Active, or a
    /// production endpoint no longer among the shadows): a retried promotion succeeds without writing, whatever the
    /// verdicts say by now.
    /// </summary>
    public static bool IsPromoted(RoutingTable table, string shadowId, PromotionTarget target)
    {
        ArgumentNullException.ThrowIfNull(table);
        return target == PromotionTarget.Active
            ? table.Shadows.Any(s => s.Id == shadowId && s.State == ShadowState.Active && !s.DataIsolated && !s.DataMasked) // one on its own data takes no traffic
            : table.Shadows.All(s => s.Id != shadowId) && table.Production.Any(p => p.Id == shadowId);
    }

    /// <summary>The table with <paramref name="shadowId"/> promoted, if <paramref name="latest"/> allows it at <paramref name="now"/>.</summary>
    public static RoutingTable Promote(RoutingTable table, string shadowId, PromotionTarget target, ShadowVerdict? latest, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (!Enum.IsDefined(target))
        {
            throw new ArgumentOutOfRangeException(nameof(target), target, "Neither Active nor Production.");
        }

        var shadow = table.Shadows.FirstOrDefault(s => s.Id == shadowId)
            ?? throw new PromotionRefusedException($"Service '{table.Service}' has no shadow '{shadowId}'.");
        var maxAge = (table.Validation ?? new ValidationSettings()).VerdictMaxAge;
        if (shadow.DataIsolated || shadow.DataMasked)
        {
            throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}' runs on its own copy of production's data ({(shadow.DataIsolated ? "dataIsolated" : "dataMasked")}): real users would read that copy (masked, shifted or synthetic) and their writes would be deleted with it; only a shadow on production's data can take production traffic.");
        }

        if (latest is null)
        {
            throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}' has never been validated; run validation first.");
        }

        if (latest.Verdict != Verdict.Pass)
        {
            throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}': its latest verdict is {latest.Verdict} ({latest.JudgedAt:u}): {latest.Reasons.FirstOrDefault()}");
        }

        if (now - latest.JudgedAt > maxAge)
        {
            throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}': its Pass is from {latest.JudgedAt:u}, older than validation.verdictMaxAge ({maxAge}); validate it again.");
        }

        if (shadow.State is ShadowState.Draining or ShadowState.Retired or ShadowState.Failed)
        {
            // Its Pass is from before it was taken out of service: it is going, gone or broken, whatever it answered then.
            throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}' is {shadow.State}; a shadow that is draining, retired or failed cannot be promoted.");
        }

        if (target != PromotionTarget.Active && shadow.Owner is { } owner)
        {
            // Its workflow would drain and stop the process at the window's end, under a production entry.
            throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}' is run by workflow '{owner}', which stops it when its window ends; promote it to Active instead, or give production an endpoint of its own.");
        }

        if (target == PromotionTarget.Active)
        {
            if (!ShadowLifecycle.CanTransition(shadow.State, ShadowState.Active))
            {
                throw new PromotionRefusedException($"Shadow '{shadowId}' of service '{table.Service}' is {shadow.State}; only a PreWarmed shadow can become Active.");
            }

            return table.WithShadowState(shadowId, ShadowState.Active, now);
        }

        if (table.Production.Any(p => p.Id == shadowId))
        {
            throw new PromotionRefusedException($"Service '{table.Service}' already has a production endpoint '{shadowId}'.");
        }

        var limit = shadow.MaxConcurrency ?? table.Production.Select(p => (int?)p.MaxConcurrency).Max() ?? 100;

        // A mirror policy that named it keeps its other targets; one that named only it stops rather than widening to every shadow.
        var mirror = table.Mirror is { Targets.Count: > 0 } policy && policy.Targets.Contains(shadowId)
            ? policy with { Targets = [.. policy.Targets.Where(t => t != shadowId)], Enabled = policy.Enabled && policy.Targets.Count > 1 }
            : table.Mirror;
        return table with
        {
            Mirror = mirror,
            Production = [.. table.Production, new ProductionEndpoint { Id = shadow.Id, Address = shadow.Address, MaxConcurrency = limit, MaxLatencyMs = shadow.MaxLatencyMs }],
            Shadows = [.. table.Shadows.Where(s => s.Id != shadowId)],
        };
    }
}
