using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;

namespace Shadowing.Core.Validation;

/// <summary>
/// A shadow that a workflow owns failed a revalidation: published on <see cref="Topics.ShadowVerdicts"/>, where the
/// workflows host turns it into the owner's <c>verdict</c> event (on Dapr a workflow instance is reached only through
/// its own app's sidecar, so the Functions app cannot raise the event itself).
/// </summary>
public sealed record ShadowVerdictNotice(string Service, string ShadowId, string Owner, Verdict Verdict, IReadOnlyList<string> Reasons, DateTimeOffset JudgedAt);

/// <summary>
/// Continuous validation: judges every PreWarmed and Active shadow that a workflow owns over the last
/// given window and publishes a <see cref="ShadowVerdictNotice"/> for each that fails, which remediates or
/// retires it. The Functions app's <c>ValidateShadows</c> timer runs it with Dapr; a hosted timer on the embedded host.
/// </summary>
/// <remarks>
/// The window starts no earlier than the shadow's last state change (it became PreWarmed or Active then): answers of an
/// earlier process, before a remediation restarted it, say nothing about the one held now.
/// </remarks>
public sealed class ShadowRevalidation(RoutingTableStore tables, ShadowValidator validator, IEventBus bus, TimeProvider time)
{
    /// <summary>One pass over every service; returns the notices published.</summary>
    public async Task<IReadOnlyList<ShadowVerdictNotice>> RunOnceAsync(TimeSpan window, CancellationToken cancellationToken = default)
    {
        var failing = new List<ShadowVerdictNotice>();
        foreach (var entry in await tables.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var shadow in entry.Value.Shadows.Where(s => s.Owner is not null && ShadowLifecycle.IsRoutable(s.State)))
            {
                var sinceReady = time.GetUtcNow() - (shadow.StateChangedAt ?? DateTimeOffset.MinValue);
                var verdict = await validator.ValidateAsync(entry.Value.Service, shadow.Id, sinceReady > TimeSpan.Zero && sinceReady < window ? sinceReady : window, storeInconclusive: false, cancellationToken).ConfigureAwait(false);
                if (verdict.Verdict != Verdict.Fail)
                {
                    continue; // a pass or too little traffic changes nothing; only failures cost the workflow a turn
                }

                var notice = new ShadowVerdictNotice(entry.Value.Service, shadow.Id, shadow.Owner!, verdict.Verdict, verdict.Reasons.Take(4).ToArray(), verdict.JudgedAt);
                await bus.PublishAsync(Topics.ShadowVerdicts, notice, cancellationToken).ConfigureAwait(false);
                failing.Add(notice);
            }
        }

        return failing;
    }
}
