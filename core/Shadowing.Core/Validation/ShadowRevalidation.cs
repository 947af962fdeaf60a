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
/// given window and publishes a <see cref="ShadowVerdictNotice"/> for each that fails, unless the window of the same
/// length before it passed (repeated looks: see <see cref="RunOnceAsync"/>), which remediates or retires it. The Functions app's <c>ValidateShadows</c> timer runs it with Dapr; a hosted timer on the embedded host.
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
                var to = time.GetUtcNow();
                var sinceReady = to - (shadow.StateChangedAt ?? DateTimeOffset.MinValue);
                var length = sinceReady > TimeSpan.Zero && sinceReady < window ? sinceReady : window;
                var verdict = await validator.JudgeAsync(entry.Value.Service, shadow.Id, to - length, to, cancellationToken).ConfigureAwait(false);
                if (verdict.Verdict == Verdict.Fail && await PassedJustBeforeAsync(entry.Value.Service, shadow, to - length, length, cancellationToken).ConfigureAwait(false))
                {
                    // One look of many: judged every interval, an identical shadow fails some window by chance now and then.
                    // A Fail right after a window that passed is not acted on until the next window fails as well.
                    continue;
                }

                await validator.RecordAsync(verdict, storeInconclusive: false, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Whether the window of the same length just before <paramref name="end"/> (and after the shadow became ready) passed.</summary>
    private async Task<bool> PassedJustBeforeAsync(string service, ShadowEndpoint shadow, DateTimeOffset end, TimeSpan length, CancellationToken cancellationToken)
    {
        var start = end - length;
        if (shadow.StateChangedAt is { } ready && ready > start)
        {
            start = ready;
        }

        return start < end && (await validator.JudgeAsync(service, shadow.Id, start, end, cancellationToken).ConfigureAwait(false)).Verdict == Verdict.Pass;
    }
}
