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
/// length before it passed (repeated looks: see <see cref="RunOnceAsync"/>), which remediates or retires it. A failing
/// PreWarmed shadow is taken out of routing (Validating) until its owner has it ready again. The Functions app's <c>ValidateShadows</c> timer runs it with Dapr; a hosted timer on the embedded host.
/// </summary>
/// <remarks>
/// The window starts no earlier than the shadow's last state change (it became PreWarmed or Active then): answers of an
/// earlier process, before a remediation restarted it, say nothing about the one held now.
/// </remarks>
public sealed class ShadowRevalidation(RoutingTableStore tables, ShadowValidator validator, IEventBus bus, TimeProvider time)
{
    /// <summary>The last reason of a Fail stored but not acted on (the failing metrics come first, as in any verdict).</summary>
    public const string NotActedOn = "not acted on yet: the window before this one passed; acted on once a failing window follows one that failed too (about a window from now, if it keeps failing)";

    /// <summary>
    /// One pass over every service; returns the notices published. A shadow that cannot be judged (its outcomes cannot
    /// be read) does not hold up the others: the pass goes on and throws an <see cref="AggregateException"/> at the end.
    /// </summary>
    public async Task<IReadOnlyList<ShadowVerdictNotice>> RunOnceAsync(TimeSpan window, CancellationToken cancellationToken = default)
    {
        var failing = new List<ShadowVerdictNotice>();
        var errors = new List<Exception>();
        foreach (var entry in await tables.ListAsync((_, ex) => errors.Add(ex), cancellationToken).ConfigureAwait(false))
        {
            foreach (var shadow in entry.Value.Shadows.Where(s => s.Owner is not null && ShadowLifecycle.IsRoutable(s.State)))
            {
                try
                {
                    if (await RevalidateAsync(entry.Value.Service, shadow, window, cancellationToken).ConfigureAwait(false) is { } notice)
                    {
                        failing.Add(notice);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    errors.Add(ex);
                }
            }
        }

        // The caller's summary line is not reached: the failing ones published in this pass are named here.
        return errors.Count == 0 ? failing : throw new AggregateException($"Revalidation could not judge {errors.Count} shadow(s); the others were judged ({failing.Count} failing{(failing.Count == 0 ? string.Empty : ": " + string.Join(", ", failing.Select(f => $"{f.Service}/{f.ShadowId}")))}).", errors);
    }

    /// <summary>
    /// Where a judgement of <paramref name="shadow"/> up to <paramref name="to"/> over <paramref name="window"/> starts: no
    /// earlier than a PreWarmed or Active shadow's last state change, when it became ready (after a restart, the answers
    /// of the process before say nothing about the one held now).
    /// </summary>
    public static DateTimeOffset WindowStart(ShadowEndpoint shadow, DateTimeOffset to, TimeSpan window)
    {
        ArgumentNullException.ThrowIfNull(shadow);
        var from = to - window;
        return ShadowLifecycle.IsRoutable(shadow.State) && shadow.StateChangedAt is { } ready && ready > from && ready < to ? ready : from;
    }

    private async Task<ShadowVerdictNotice?> RevalidateAsync(string service, ShadowEndpoint shadow, TimeSpan window, CancellationToken cancellationToken)
    {
        var to = time.GetUtcNow();
        var length = to - WindowStart(shadow, to, window);
        var verdict = await validator.JudgeAsync(service, shadow.Id, to - length, to, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (verdict.Verdict != Verdict.Fail)
        {
            await validator.RecordAsync(verdict, storeInconclusive: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            return null; // a pass or too little traffic changes nothing; only failures cost the workflow a turn
        }

        var latest = await validator.LatestAsync(service, shadow.Id, cancellationToken).ConfigureAwait(false);
        var sinceReady = latest is not null && (shadow.StateChangedAt is not { } ready || latest.From >= ready);
        switch (await BeforeAsync(service, shadow, latest, sinceReady, to - length, to, length, window, cancellationToken).ConfigureAwait(false))
        {
            case Before.Passed:
                // One look of many: judged every interval, an identical shadow fails some window by chance now and then. A
                // Fail right after a window that passed is not acted on until the next window fails as well; it is still the
                // latest judgement (a promotion must not rest on the older Pass), stored without an alert.
                await validator.RecordAsync(verdict with { Reasons = [.. verdict.Reasons, NotActedOn] }, storeInconclusive: false, alert: false, cancellationToken).ConfigureAwait(false);
                return null;
            case Before.HeldFail:
                return null; // the Fail held back stays the latest: what comes after it goes on being judged against it
        }

        if (shadow.State == ShadowState.Active && sinceReady && latest is { Verdict: Verdict.Fail, Noticed: true })
        {
            // An Active shadow keeps its traffic until its owner acts, so it is judged failing again at every tick: noticed
            // and alerted once while it stays failing (a Pass in between, stored, makes the next Fail a new one).
            await validator.RecordAsync(verdict with { Noticed = true }, storeInconclusive: false, alert: false, cancellationToken).ConfigureAwait(false);
            return null;
        }

        // The notice first: one that cannot be published leaves nothing stored, so the next tick acts (and alerts) again.
        var notice = new ShadowVerdictNotice(service, shadow.Id, shadow.Owner!, verdict.Verdict, verdict.Reasons.Take(4).ToArray(), verdict.JudgedAt);
        await bus.PublishAsync(Topics.ShadowVerdicts, notice, cancellationToken).ConfigureAwait(false);
        await validator.RecordAsync(verdict with { Noticed = true }, storeInconclusive: false, cancellationToken: cancellationToken).ConfigureAwait(false);

        // Then a standby shadow leaves routing: its owner may be busy warming up another shadow before it takes the notice,
        // and a failover must not land on it meanwhile. No longer routable, it is not judged, alerted or noticed again until
        // its owner has it ready again. Only after the notice is out (a shadow moved without one would wait for nobody),
        // and only if it is still the standby that was judged: an Active (promoted) one keeps its traffic until its owner
        // acts, and one its owner moved meanwhile is its owner's.
        if (shadow.State == ShadowState.PreWarmed)
        {
            await tables.UpdateAsync(
                service,
                t => t!.Shadows.FirstOrDefault(s => s.Id == shadow.Id) is { State: ShadowState.PreWarmed } now && now.StateChangedAt == shadow.StateChangedAt
                    ? t.WithShadowState(shadow.Id, ShadowState.Validating, verdict.JudgedAt)
                    : t,
                cancellationToken).ConfigureAwait(false);
        }

        return notice;
    }

    private enum Before
    {
        /// <summary>Act on the Fail: the evidence before it did not pass.</summary>
        NotPassed,

        /// <summary>The window before passed: hold the Fail back, stored, until the next window fails too.</summary>
        Passed,

        /// <summary>A Fail already held back since the shadow became ready, and what came after it did not fail on its own.</summary>
        HeldFail,
    }

    private static bool IsNotActedOn(ShadowVerdict verdict) => verdict.Reasons.Count > 0 && verdict.Reasons[^1] is NotActedOn or NotActedOnUntilNow;

    /// <summary><see cref="NotActedOn"/> as versions before it was reworded stored it (it said "if the next one fails too", which the overlapping windows did not mean).</summary>
    private const string NotActedOnUntilNow = "not acted on yet: the window before this one passed; acted on if the next one fails too";

    /// <summary>
    /// What the evidence before the failing window [<paramref name="end"/> − <paramref name="length"/>, …] says: the window
    /// of the same length just before it (and after the shadow became ready). In the first window after it became ready,
    /// or when the window before holds too few copies to judge (a stub after ready, or a quiet service), there is no such
    /// window: what came
    /// just before is the judgement that made it ready (its warm-up's validation, or the passes a promotion rested on), so
    /// its latest stored verdict decides, if a Pass judged within a <paramref name="window"/> of then; or, if that is a
    /// Fail already held back since it became ready, the copies since it: its window and the current one both start at
    /// ready and overlap, so the current one is not a second look, and only what came after it, failing on its own, is.
    /// </summary>
    private async Task<Before> BeforeAsync(string service, ShadowEndpoint shadow, ShadowVerdict? latest, bool sinceReady, DateTimeOffset end, DateTimeOffset to, TimeSpan length, TimeSpan window, CancellationToken cancellationToken)
    {
        var start = end - length;
        if (shadow.StateChangedAt is { } ready && ready > start)
        {
            start = ready;
        }

        if (start < end)
        {
            var before = await validator.JudgeAsync(service, shadow.Id, start, end, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (before.Verdict != Verdict.Inconclusive)
            {
                return before.Verdict == Verdict.Pass ? Before.Passed : Before.NotPassed;
            }

            // Too few copies before (a quiet service, or a stub after ready) say nothing either way: the latest stored
            // judgement decides, as below. A whole window that was Inconclusive used to count as not passed, so on a service
            // whose windows often fell under minSamples a chance Fail was acted on without a second look.
        }

        if (latest is { Verdict: Verdict.Fail } held && IsNotActedOn(held) && sinceReady && held.To < to)
        {
            var after = await validator.JudgeAsync(service, shadow.Id, held.To, to, cancellationToken: cancellationToken).ConfigureAwait(false);
            return after.Verdict == Verdict.Fail ? Before.NotPassed : Before.HeldFail;
        }

        return latest is { Verdict: Verdict.Pass } && latest.JudgedAt >= end - window ? Before.Passed : Before.NotPassed;
    }
}
