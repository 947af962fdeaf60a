using System.Collections.Frozen;

namespace Shadowing.Core.Shadows;

/// <summary>
/// The one place that says which shadow state changes are legal. Everything that changes a shadow's state
/// (the provisioning workflow, remediation, operators) goes through <see cref="EnsureCanTransition"/>.
/// </summary>
public static class ShadowLifecycle
{
    private static readonly FrozenDictionary<ShadowState, FrozenSet<ShadowState>> Transitions =
        new Dictionary<ShadowState, FrozenSet<ShadowState>>
        {
            [ShadowState.Provisioning] = Set(ShadowState.Syncing, ShadowState.Failed, ShadowState.Retired),
            [ShadowState.Syncing] = Set(ShadowState.WarmingUp, ShadowState.Failed, ShadowState.Retired),
            [ShadowState.WarmingUp] = Set(ShadowState.Validating, ShadowState.Failed, ShadowState.Retired),

            // A failed validation can send the shadow back to warm up after remediation (scale up, restart).
            [ShadowState.Validating] = Set(ShadowState.PreWarmed, ShadowState.WarmingUp, ShadowState.Failed, ShadowState.Retired),

            // A pre-warmed shadow is re-validated periodically, takes traffic, or is drained when its window ends.
            [ShadowState.PreWarmed] = Set(ShadowState.Active, ShadowState.Validating, ShadowState.Draining, ShadowState.Failed),
            [ShadowState.Active] = Set(ShadowState.PreWarmed, ShadowState.Draining, ShadowState.Failed),
            [ShadowState.Draining] = Set(ShadowState.Retired, ShadowState.Failed),

            // Remediation may restart a failed shadow from scratch; otherwise it is retired.
            [ShadowState.Failed] = Set(ShadowState.Provisioning, ShadowState.Retired),
            [ShadowState.Retired] = Set(),
        }.ToFrozenDictionary();

    /// <summary>The state every new shadow starts in.</summary>
    public const ShadowState Initial = ShadowState.Provisioning;

    /// <summary>Whether moving from <paramref name="from"/> to <paramref name="to"/> is legal.</summary>
    public static bool CanTransition(ShadowState from, ShadowState to) =>
        Transitions.TryGetValue(from, out var next) && next.Contains(to);

    /// <summary>The states reachable in one step from <paramref name="from"/>.</summary>
    public static IReadOnlySet<ShadowState> NextStates(ShadowState from) => Transitions[from];

    /// <summary>Throws <see cref="InvalidShadowTransitionException"/> unless the move is legal.</summary>
    public static void EnsureCanTransition(string shadowId, ShadowState from, ShadowState to)
    {
        if (!CanTransition(from, to))
        {
            throw new InvalidShadowTransitionException(shadowId, from, to);
        }
    }

    /// <summary>
    /// The states to pass through, in order, to get from <paramref name="from"/> to <paramref name="to"/> by legal moves
    /// (fewest first; empty when already there), or null when <paramref name="to"/> cannot be reached. Lets an idempotent
    /// step say where a shadow must end up, whichever phase a previous, interrupted run left it in.
    /// </summary>
    public static IReadOnlyList<ShadowState>? PathTo(ShadowState from, ShadowState to)
    {
        var previous = new Dictionary<ShadowState, ShadowState> { [from] = from };
        var queue = new Queue<ShadowState>([from]);
        while (queue.TryDequeue(out var state))
        {
            if (state == to)
            {
                var path = new List<ShadowState>();
                for (var s = to; s != from; s = previous[s])
                {
                    path.Add(s);
                }

                path.Reverse();
                return path;
            }

            foreach (var next in Transitions[state].Order())
            {
                if (previous.TryAdd(next, state))
                {
                    queue.Enqueue(next);
                }
            }
        }

        return null;
    }

    /// <summary>Whether the router may send production traffic to a shadow in <paramref name="state"/>.</summary>
    public static bool IsRoutable(ShadowState state) => state is ShadowState.PreWarmed or ShadowState.Active;

    /// <summary>Whether no further transition is possible.</summary>
    public static bool IsTerminal(ShadowState state) => Transitions[state].Count == 0;

    private static FrozenSet<ShadowState> Set(params ShadowState[] states) => states.ToFrozenSet();
}

/// <summary>A shadow was asked to move between states that the lifecycle does not connect.</summary>
public sealed class InvalidShadowTransitionException(string shadowId, ShadowState from, ShadowState to)
    : InvalidOperationException(
        $"Shadow '{shadowId}' cannot move from {from} to {to}; from {from} it can move to: " +
        $"{(ShadowLifecycle.NextStates(from).Count == 0 ? "nothing (terminal)" : string.Join(", ", ShadowLifecycle.NextStates(from).Order()))}.")
{
    /// <summary>The shadow.</summary>
    public string ShadowId { get; } = shadowId;

    /// <summary>Its current state.</summary>
    public ShadowState From { get; } = from;

    /// <summary>The requested state.</summary>
    public ShadowState To { get; } = to;
}
