using Dapr.Workflow;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Intake;

/// <summary>
/// Turns shadow requests (topic <c>shadow-requests</c>) into lifecycle workflows behind the guard rails, and records each
/// decision at <c>sep/plans/{request id}</c>. Idempotent: a redelivered request finds its plan and changes nothing; a
/// request the PAE merged with a later forecast (same id, longer window or more shadows) raises <c>extend</c> or
/// <c>resize</c> on the running instance, and one a fresher forecast shortened raises <c>extend</c> with the earlier end.
/// The stored request (<c>shadow-requests/…</c>) is what is decided when there is one, so an old message redelivered late
/// is not obeyed.
/// </summary>
public sealed partial class ShadowRequestIntake(
    IStateStore store,
    IDaprWorkflowClient workflows,
    IOptionsMonitor<ShadowGuardRails> rails,
    TimeProvider time,
    ILogger<ShadowRequestIntake> logger)
{
    // Caps are counted from the plans and then acted on: one request at a time per host keeps that exact. (Two
    // workflows-host replicas could still both pass a cap; the budget cannot be overspent, its charge is ETag-checked.)
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Decides <paramref name="request"/>, starts or updates its workflow, and returns the stored plan.</summary>
    public async Task<ShadowPlan> HandleAsync(ShadowRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await DecideAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<ShadowPlan> DecideAsync(ShadowRequest request, CancellationToken cancellationToken)
    {
        // What is stored is the latest version: a message redelivered after a later merge or shortening is not obeyed.
        request = (await store.GetJsonAsync<ShadowRequest>(StateKeys.ShadowRequestsPrefix + request.Id, cancellationToken).ConfigureAwait(false))?.Value ?? request;
        var existing = (await store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id), cancellationToken).ConfigureAwait(false))?.Value;
        var revision = existing?.Revision ?? 1;
        var next = request; // what the workflow runs: from a later revision, only what is left of the window
        if (existing is { Decision: ShadowPlanDecision.Admitted, InstanceId: { } instanceId })
        {
            var instance = await workflows.GetWorkflowStateAsync(instanceId, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false);
            if (instance is { Exists: true, IsWorkflowCompleted: false })
            {
                return await UpdateRunningAsync(existing, request, cancellationToken).ConfigureAwait(false); // a merged request may grow it
            }

            if (instance is not { Exists: true } && existing.InstanceEndedAt is not null)
            {
                // Seen ended, then purged (the embedded backend's retention, daprd's retention policy): how it ended is
                // gone, and a window that outlasted the retention is not started again.
                return existing;
            }

            if (instance is not { Exists: true } && request.WindowEnd <= time.GetUtcNow())
            {
                // Gone after its window (purged, a late redelivery): what it ran stands, and its charge. Recorded as seen
                // ended, so the reconciler does not look for it again every tick until the plan goes.
                if (existing.InstanceEndedAt is null)
                {
                    existing = existing with { InstanceEndedAt = time.GetUtcNow() };
                    await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), existing, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                return existing;
            }

            if (instance is not { Exists: true })
            {
                // Never seen ended: lost with the workflow store (a deleted or in-memory file, a reset actor store).
                // Decided again below as the next revision: new instance and shadow ids, since the lost run's shadows are
                // retired in their tables under theirs (a retired id is never reused) and their copies recorded deleted.
                LogInstanceMissing(request.Id, instanceId);
                revision = existing.Revision + 1;

                // The new revision is charged for the same window below: the lost run's charge gives way to it, not twice.
                await ChargeAsync(DateOnly.FromDateTime(request.WindowStart.UtcDateTime), ChargeKey(request.Id, existing.Revision), 0, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                if (existing.InstanceEndedAt is null)
                {
                    existing = existing with { InstanceEndedAt = time.GetUtcNow() };
                    await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), existing, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                var now = time.GetUtcNow();

                // Ended: served once, unless the request grew since into a window still ahead (the PAE merged a later
                // forecast into it): that part is decided like a new request and runs as the next revision. That includes
                // an extension the plan took while the workflow was already draining, which the workflow never held for.
                // Only after an instance that completed: one an operator terminated, or that failed, is not brought back.
                // Its output only now: the payloads of a running instance, read every reconcile tick, are not needed.
                var outcome = instance.RuntimeStatus == WorkflowRuntimeStatus.Completed
                    ? Outcome(await workflows.GetWorkflowStateAsync(instanceId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false))
                    : null;
                // Its own end, not the plan's, when the plan took an end the workflow did not hold for: an extension it got
                // only while draining, or one raised as it completed (dropped, so fewer received than the plan raised).
                var unheld = outcome is not null && (outcome.UnheldExtension is not null || outcome.ExtensionsReceived < existing.Extensions);
                var servedEnd = unheld && outcome!.WindowEnd is { } heldEnd ? heldEnd : existing.WindowEnd;
                if (existing.ReleasedAt is { } releasedAt && outcome?.Reason.Contains(KillSwitchReason, StringComparison.Ordinal) == true
                    && await store.GetAsync(StateKeys.ShadowOverride(instanceId), cancellationToken).ConfigureAwait(false) is null)
                {
                    // Ended by the kill switch's release (not by its window, a hand-raised release, or failing shadows, nor
                    // after an operator moved its end or count by hand): what is left of its window runs as the next revision
                    // (decided below, so refused while the kill switch stays engaged and admitted once it is off), and the
                    // released revision is charged up to its release only. A window booked for next week is not lost to ten
                    // minutes of kill switch.
                    var released = releasedAt > existing.WindowStart ? releasedAt : existing.WindowStart;
                    servedEnd = released < servedEnd ? released : servedEnd;
                }

                var handReleased = (await store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride(instanceId), cancellationToken).ConfigureAwait(false))?.Value?.ReleasedAt;
                if (handReleased is { } handAt && existing.ReleasedAt is { } switchAt && switchAt < handAt)
                {
                    handReleased = switchAt; // the kill switch released it first; the operator's release came while it drained
                }

                if (handReleased is { } byHand && existing.ManualEnd is null)
                {
                    // Released by an operator through the control API: charged up to the release only, and never run again.
                    // Its request is closed (ShadowOverride.ReleasedAt): a later forecast or operator's request is stored on its
                    // own and runs for its own window, not for what was left of this one.
                    var released = byHand > existing.WindowStart ? byHand : existing.WindowStart;
                    servedEnd = released < servedEnd ? released : servedEnd;
                }

                var heldTo = outcome?.WindowEnd;
                if (handReleased is { } cut)
                {
                    // Released by hand after an operator moved its end by hand: charged up to the release, as without.
                    cut = cut > existing.WindowStart ? cut : existing.WindowStart;
                    heldTo = heldTo is { } held && held < cut ? held : cut;
                }

                if (existing.ManualEnd is { } manualEnd && heldTo is { } ranTo && ranTo < manualEnd)
                {
                    // An operator's extension it never held (raised while it drained), or one released by hand: charged only up to the end it held.
                    var running = existing.ManualCount ?? existing.Count;
                    var held = ShadowAdmission.Recharged(existing.EndpointHours, running, manualEnd, running, ranTo, ranTo);
                    await ChargeAsync(DateOnly.FromDateTime(request.WindowStart.UtcDateTime), ChargeKey(request.Id, existing.Revision), held, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
                    existing = existing with { ManualEnd = ranTo, EndpointHours = held };
                    await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), existing, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                if (existing.ManualEnd is null && servedEnd < existing.WindowEnd) // an operator's end was charged back above
                {
                    // Charged for an end it never held (an extension it got only while draining, a kill switch's release): charged
                    // up to the end it held, whether or not what is left runs as the next revision, which is charged for that part.
                    // (From what the plan holds, which charges shadows added part-way through only from then.)
                    // The plan then says so (the end it held, the hours it is charged), which also makes this run once.
                    var running = existing.ManualCount ?? existing.Count;
                    var held = ShadowAdmission.Recharged(existing.EndpointHours, running, existing.WindowEnd, running, servedEnd, servedEnd);
                    await ChargeAsync(DateOnly.FromDateTime(request.WindowStart.UtcDateTime), ChargeKey(request.Id, existing.Revision), held, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
                    existing = existing with { WindowEnd = servedEnd, EndpointHours = held };
                    await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), existing, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                if (handReleased is not null || !(Grew(existing, request) || request.WindowEnd > servedEnd) || request.WindowEnd <= now || instance.RuntimeStatus != WorkflowRuntimeStatus.Completed)
                {
                    return existing;
                }

                var resumeAt = servedEnd > now ? servedEnd : now;
                next = request with { WindowStart = resumeAt > request.WindowStart ? resumeAt : request.WindowStart };
                if (next.WindowStart >= next.WindowEnd)
                {
                    return existing; // only the count grew, and the window it ran for is over: nothing left to run
                }

                revision = existing.Revision + 1;
            }
        }
        else if (existing is not null)
        {
            // Refused or a dry run: decided again (a redelivery, each reconcile tick), since what refused it may be gone:
            // a cap freed when another workflow ended, the kill switch released, the dry run turned off.
            if (request.WindowEnd <= time.GetUtcNow())
            {
                return existing;
            }
        }

        if ((existing is not { Decision: ShadowPlanDecision.Admitted } || revision != existing.Revision) && await AdoptScheduledAsync(request, revision, cancellationToken).ConfigureAwait(false) is { } adopted)
        {
            return adopted;
        }

        var settings = rails.CurrentValue;
        var (inService, total) = await RunningShadowsAsync(request, cancellationToken).ConfigureAwait(false);
        var day = DateOnly.FromDateTime(request.WindowStart.UtcDateTime);
        var budget = (await store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(day), cancellationToken).ConfigureAwait(false))?.Value;
        var chargeKey = ChargeKey(request.Id, revision);
        var charged = (budget?.EndpointHours ?? 0) - (budget?.Requests.GetValueOrDefault(chargeKey) ?? 0);
        var plan = ShadowAdmission.Decide(next, settings, await KillSwitchEngagedAsync(cancellationToken).ConfigureAwait(false), inService, total, charged, time.GetUtcNow()) with { Revision = revision };
        if (next.WindowEnd <= time.GetUtcNow())
        {
            // Delivered after its window (the host was down, the bus held it): nothing left to run, nothing to charge.
            plan = plan with { Decision = ShadowPlanDecision.Refused, Reason = "Refused: its window ended before it could be decided", EndpointHours = 0 };
        }

        if (plan.Decision != ShadowPlanDecision.Admitted && budget?.Requests.GetValueOrDefault(chargeKey) > 0)
        {
            // Charged by an earlier attempt whose workflow could not be scheduled: nothing runs under it, so nothing is charged.
            await ChargeAsync(day, chargeKey, 0, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
        }

        if (plan.Decision != ShadowPlanDecision.Admitted && existing is not null && plan with { DecidedAt = existing.DecidedAt } == existing)
        {
            return existing; // decided again (a reconcile tick, a redelivery) and nothing changed: nothing to store or log
        }
        if (plan.Decision == ShadowPlanDecision.Admitted && existing is { Decision: not ShadowPlanDecision.Admitted } && time.GetUtcNow() > next.WindowStart)
        {
            // Admitted at last, part of the way into its window: only what is left of it runs, and is charged.
            next = next with { WindowStart = time.GetUtcNow() };
            plan = plan with { WindowStart = next.WindowStart, EndpointHours = ShadowAdmission.EndpointHours(next, plan.Count) };
        }
        else if (plan.Decision == ShadowPlanDecision.Admitted && existing is null && time.GetUtcNow() > next.WindowStart)
        {
            // First decided part of the way into its window (a PAE window starts at its step, the host was down, the bus held
            // it): charged for what is left. The workflow keeps the request's window, and with it its shadows' ids; it
            // starts at once either way.
            plan = plan with { EndpointHours = ShadowAdmission.EndpointHours(next with { WindowStart = time.GetUtcNow() }, plan.Count) };
        }

        if (plan.Decision == ShadowPlanDecision.Admitted && await ChargeAsync(day, chargeKey, plan.EndpointHours, settings.EndpointHoursPerDay, cancellationToken).ConfigureAwait(false) is { } over)
        {
            plan = plan with { Decision = ShadowPlanDecision.Refused, Reason = "Refused: " + over, EndpointHours = 0 }; // another request took the budget meanwhile
        }

        if (plan.Decision == ShadowPlanDecision.Admitted)
        {
            plan = plan with { InstanceId = ShadowLifecycleNames.InstanceId(request, revision) };
            if (!await ExistsAsync(plan.InstanceId, cancellationToken).ConfigureAwait(false))
            {
                // As many shadows as were admitted: the caps may have left room for fewer than were asked for.
                await workflows.ScheduleNewWorkflowAsync(ShadowLifecycleNames.Workflow, plan.InstanceId, next with { Count = plan.Count }).ConfigureAwait(false);
            }
        }

        await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), plan, cancellationToken: cancellationToken).ConfigureAwait(false);
        LogDecided(request.Id, plan.Decision, plan.Reason);
        return plan;
    }

    /// <summary>
    /// How long a request and its plan are kept after the request's window ended (for <c>plans</c>, the status API and
    /// the audit of what was admitted); the audit log keeps the operators' own actions for longer.
    /// </summary>
    public static readonly TimeSpan EndedRetention = TimeSpan.FromDays(7);

    /// <summary>
    /// The reconciler's pass over the stored requests (<c>shadow-requests/{service}/…</c>, written by the PAE or a
    /// hand-started request before it publishes): every request whose window is still open is decided as if delivered
    /// again, so one whose message was lost gets its workflow, and one that grew reaches its instance as <c>extend</c>
    /// or <c>resize</c>; so does one shortened to an end that has passed, whose workflow would otherwise keep the old end.
    /// A request whose window ended more than <see cref="EndedRetention"/> ago is deleted with its plan.
    /// Idempotent; returns the plans it changed.
    /// </summary>
    public async Task<IReadOnlyList<ShadowPlan>> ReconcileOpenRequestsAsync(CancellationToken cancellationToken = default)
    {
        var changed = new List<ShadowPlan>();
        var now = time.GetUtcNow();
        foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequestsPrefix, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if ((await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false))?.Value is not { } request)
                {
                    continue;
                }

                var before = (await store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(request.Id), cancellationToken).ConfigureAwait(false))?.Value;
                if (request.WindowEnd < now - EndedRetention
                    && !(before is { InstanceId: { } instance } && await IsRunningAsync(instance, cancellationToken).ConfigureAwait(false)))
                {
                    // Long over: every pass (and every PAE run, and every admission) reads what is stored, so it goes. The plan
                    // first: a request left after a crash is deleted again on the next pass.
                    if (before is { InstanceId: { } overridden })
                    {
                        await store.DeleteAsync(StateKeys.ShadowOverride(overridden), etag: null, cancellationToken).ConfigureAwait(false);
                    }

                    await store.DeleteAsync(StateKeys.ShadowPlan(request.Id), etag: null, cancellationToken).ConfigureAwait(false);
                    await store.DeleteAsync(key, etag: null, cancellationToken).ConfigureAwait(false);
                    LogForgotten(request.Id, request.WindowEnd);
                    continue;
                }

                if (request.WindowEnd <= now
                    && !(before is { Decision: ShadowPlanDecision.Admitted, InstanceId: { } running, ReleasedAt: null }
                        && (before.WindowEnd > request.WindowEnd || await store.GetAsync(StateKeys.ShadowOverride(running), cancellationToken).ConfigureAwait(false) is not null)
                        && await IsRunningAsync(running, cancellationToken).ConfigureAwait(false))
                    && !(before is { Decision: ShadowPlanDecision.Admitted, InstanceId: { } ended, InstanceEndedAt: null }
                        && !await IsRunningAsync(ended, cancellationToken).ConfigureAwait(false)))
                {
                    // Over; unless it was shortened to an end that has passed and its running workflow never heard, or an
                    // operator extended its workflow by hand (just before the end, typically) and the plan is yet to say so,
                    // or its workflow has ended and is yet to be seen so: the plan then gives back an end it charged and the
                    // workflow never held (an extension it got while draining, by hand or from the PAE).
                    continue;
                }

                var after = await HandleAsync(request, cancellationToken).ConfigureAwait(false);
                if (after != before)
                {
                    changed.Add(after);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogReconcileFailed(ex, key); // one request that cannot be decided does not hold up the others, or the sweep
            }
        }

        if (changed.Count > 0)
        {
            LogReconciled(changed.Count, string.Join(", ", changed.Select(p => p.RequestId)));
        }

        return changed;
    }

    /// <summary>Every stored plan, by request id.</summary>
    public async Task<IReadOnlyList<ShadowPlan>> PlansAsync(CancellationToken cancellationToken = default)
    {
        var plans = new List<ShadowPlan>();
        foreach (var key in await store.ListKeysAsync(StateKeys.SepPlansPrefix, cancellationToken).ConfigureAwait(false))
        {
            if ((await store.GetJsonAsync<ShadowPlan>(key, cancellationToken).ConfigureAwait(false))?.Value is { } plan)
            {
                plans.Add(plan);
            }
        }

        return plans;
    }

    /// <summary>Whether the kill switch is engaged, in configuration or in the store.</summary>
    public async Task<bool> KillSwitchEngagedAsync(CancellationToken cancellationToken = default) =>
        rails.CurrentValue.KillSwitch || await store.GetAsync(StateKeys.KillSwitch, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Engages the kill switch: no request is admitted from now on, and every running lifecycle workflow is released, so
    /// its shadows drain and retire. Returns the instances released.
    /// </summary>
    public async Task<IReadOnlyList<string>> EngageKillSwitchAsync(string by, CancellationToken cancellationToken = default)
    {
        await store.SaveJsonAsync(StateKeys.KillSwitch, new { By = by, At = time.GetUtcNow() }, cancellationToken: cancellationToken).ConfigureAwait(false);
        return await ReleaseAllAsync($"{KillSwitchReason} by {by}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// While the kill switch is engaged (an operator set it in the store, or in configuration), releases every lifecycle
    /// workflow still running, once each; returns the instances released. Called on every maintenance tick.
    /// </summary>
    public async Task<IReadOnlyList<string>> EnforceKillSwitchAsync(CancellationToken cancellationToken = default) =>
        await KillSwitchEngagedAsync(cancellationToken).ConfigureAwait(false)
            ? await ReleaseAllAsync(KillSwitchReason, cancellationToken).ConfigureAwait(false)
            : [];

    /// <summary>What the kill switch's release says, in its workflows' outcomes too.</summary>
    private const string KillSwitchReason = "kill switch engaged";

    /// <summary>Disengages the kill switch in the store (one set in configuration stays).</summary>
    public Task DisengageKillSwitchAsync(CancellationToken cancellationToken = default) =>
        store.DeleteAsync(StateKeys.KillSwitch, etag: null, cancellationToken);

    private async Task<IReadOnlyList<string>> ReleaseAllAsync(string reason, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false); // plans are rewritten: not while a request changes one
        try
        {
            return await ReleaseAllLockedAsync(reason, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IReadOnlyList<string>> ReleaseAllLockedAsync(string reason, CancellationToken cancellationToken)
    {
        var released = new List<string>();
        foreach (var plan in await PlansAsync(cancellationToken).ConfigureAwait(false))
        {
            if (plan is { Decision: ShadowPlanDecision.Admitted, InstanceId: { } id, ReleasedAt: null } && await IsRunningAsync(id, cancellationToken).ConfigureAwait(false))
            {
                await workflows.RaiseEventAsync(id, ShadowLifecycleNames.Release, reason, cancellationToken).ConfigureAwait(false);
                await store.SaveJsonAsync(StateKeys.ShadowPlan(plan.RequestId), plan with { ReleasedAt = time.GetUtcNow() }, cancellationToken: cancellationToken).ConfigureAwait(false);
                released.Add(id);
            }
        }

        if (released.Count > 0)
        {
            LogKillSwitch(reason, released.Count);
        }

        return released;
    }

    private async Task<ShadowPlan> UpdateRunningAsync(ShadowPlan plan, ShadowRequest request, CancellationToken cancellationToken)
    {
        await EnsureChargedAsync(plan, request, cancellationToken).ConfigureAwait(false);
        if ((await store.GetJsonAsync<ShadowOverride>(StateKeys.ShadowOverride(plan.InstanceId!), cancellationToken).ConfigureAwait(false))?.Value is { } manual)
        {
            return await RecordOverrideAsync(plan, request, manual, cancellationToken).ConfigureAwait(false);
        }

        var wanted = Math.Max(plan.Count, request.Count); // fewer shadows are not asked for: a window ends instead
        var end = request.WindowEnd; // later when merged with a later forecast, earlier when a fresher one shortened it
        if (wanted == plan.Count && end == plan.WindowEnd)
        {
            return plan; // redelivered: the running workflow keeps what it has
        }

        // More shadows pass the caps like a new request for the difference (as many as they leave room for), and a longer
        // window or more shadows are charged; a shorter window only gives endpoint-hours back. Every note is written on
        // the request's own reason, so a growth refused again at each reconcile does not pile up notes.
        var (inService, total) = await RunningShadowsAsync(request, cancellationToken).ConfigureAwait(false);
        var settings = rails.CurrentValue;
        var day = DateOnly.FromDateTime(request.WindowStart.UtcDateTime);
        var chargeKey = ChargeKey(request.Id, plan.Revision);
        var growing = wanted > plan.Count || end > plan.WindowEnd;
        var killSwitch = growing && await KillSwitchEngagedAsync(cancellationToken).ConfigureAwait(false);
        var capped = wanted > plan.Count ? ShadowAdmission.CapRefusal(request.Service, wanted - plan.Count, settings, killSwitch, inService + plan.Count, total + plan.Count) : null;
        var count = plan.Count + ShadowAdmission.Fitting(wanted - plan.Count, settings, killSwitch, inService + plan.Count, total + plan.Count);
        var notes = capped is null ? null : $"growing to {wanted} shadow(s) {(count > plan.Count ? $"capped at {count}" : "refused")}: {capped}";

        // What to try, best first: the shadows the caps allow until the new end; without them, the new end alone (an
        // earlier end holds even with the kill switch engaged; a later one does not).
        string? refusal = killSwitch ? "the kill switch is engaged" : null;
        var tries = new List<int>(2);
        if (count > plan.Count)
        {
            tries.Add(count);
        }

        if (end < plan.WindowEnd || (end > plan.WindowEnd && !killSwitch))
        {
            tries.Add(plan.Count);
        }

        ShadowPlan? updated = null;
        var now = time.GetUtcNow();
        var addedFrom = now > plan.WindowStart ? now : plan.WindowStart;
        foreach (var shadows in tries)
        {
            // From what the plan holds (a later revision from its own start): shadows added now are charged from now.
            var hours = ShadowAdmission.Recharged(plan.EndpointHours, plan.Count, plan.WindowEnd, shadows, end, addedFrom);
            var limit = shadows > plan.Count || end > plan.WindowEnd ? settings.EndpointHoursPerDay : double.PositiveInfinity; // a shorter window is never refused
            if (await ChargeAsync(day, chargeKey, hours, limit, cancellationToken).ConfigureAwait(false) is { } over)
            {
                refusal = over;
                notes = $"growing to {shadows} shadow(s) until {end:u} refused: {over}";
                continue;
            }

            var extensions = plan.Extensions;
            if (end != plan.WindowEnd)
            {
                extensions++;
                await workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Extend, new ExtendEvent(end, extensions), cancellationToken).ConfigureAwait(false);
            }

            if (shadows > plan.Count)
            {
                await workflows.RaiseEventAsync(plan.InstanceId!, ShadowLifecycleNames.Resize, new ResizeEvent(Count: shadows), cancellationToken).ConfigureAwait(false);
            }

            updated = plan with { Count = shadows, WindowEnd = end, Extensions = extensions, EndpointHours = hours, Reason = notes is null ? request.Reason : $"{request.Reason} ({notes})" };
            break;
        }

        if (updated is null)
        {
            updated = plan with { Reason = $"{request.Reason} (growing to {wanted} shadow(s) until {end:u} refused: {refusal ?? capped})" };
            if (updated == plan)
            {
                return plan; // refused again as before (the reconciler decides open requests every tick): nothing to store
            }
        }

        await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), updated with { DecidedAt = time.GetUtcNow() }, cancellationToken: cancellationToken).ConfigureAwait(false);
        LogUpdated(request.Id, updated.Count, updated.WindowEnd);
        return updated;
    }

    /// <summary>
    /// An operator raised an extend or resize by hand: theirs stands until they release it (or raise another), so the
    /// request's own end and count are not raised over it. The plan takes the count and end the operator set, and they are
    /// charged to the day's budget (never refused: the events acted on the workflow already), so the caps and the budget
    /// see the shadows that run and later requests are decided against them.
    /// </summary>
    private async Task<ShadowPlan> RecordOverrideAsync(ShadowPlan plan, ShadowRequest request, ShadowOverride manual, CancellationToken cancellationToken)
    {
        var count = manual.Count ?? plan.Count;
        var end = manual.WindowEnd ?? plan.WindowEnd;
        var wanted = Math.Max(plan.Count, request.Count);

        // From what the plan holds, as the intake's own changes are charged: shadows the operator added or removed from when
        // they did, not from this tick (nothing changes once the override is recorded).
        var from = manual.At > plan.WindowStart ? manual.At : plan.WindowStart;
        var noted = plan with
        {
            ManualCount = manual.Count,
            ManualEnd = manual.WindowEnd,
            EndpointHours = ShadowAdmission.Recharged(plan.EndpointHours, plan.ManualCount ?? plan.Count, plan.ManualEnd ?? plan.WindowEnd, count, end, from),
            Reason = wanted == count && request.WindowEnd == end
                ? $"{request.Reason} ({count} shadow(s) until {end:u}: {manual.Event} raised by hand by {manual.By} at {manual.At:u})"
                : $"{request.Reason} (not changed to {wanted} shadow(s) until {request.WindowEnd:u}: {count} shadow(s) until {end:u}, {manual.Event} raised by hand by {manual.By} at {manual.At:u})",
        };
        if (noted == plan)
        {
            return plan;
        }

        if (noted.EndpointHours != plan.EndpointHours)
        {
            await ChargeAsync(DateOnly.FromDateTime(request.WindowStart.UtcDateTime), ChargeKey(request.Id, plan.Revision), noted.EndpointHours, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
        }

        await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), noted, cancellationToken: cancellationToken).ConfigureAwait(false);
        return noted;
    }

    /// <summary>
    /// Charges a running workflow what its plan holds when the day's budget says otherwise (never refused: it runs). Another
    /// host deciding the same request refused (the kill switch engaged meanwhile) gives back the charge it finds, which can
    /// be this host's, taken between scheduling the workflow and storing its plan; checked at every decision of a running
    /// request, which the maintenance tick makes, the budget counts the workflow again within a tick.
    /// </summary>
    private async Task EnsureChargedAsync(ShadowPlan plan, ShadowRequest request, CancellationToken cancellationToken)
    {
        var day = DateOnly.FromDateTime(request.WindowStart.UtcDateTime);
        var chargeKey = ChargeKey(request.Id, plan.Revision);
        var budget = (await store.GetJsonAsync<ShadowBudgetDay>(StateKeys.ShadowBudget(day), cancellationToken).ConfigureAwait(false))?.Value;
        if (Math.Abs((budget?.Requests.GetValueOrDefault(chargeKey) ?? 0) - plan.EndpointHours) > 1e-9)
        {
            await ChargeAsync(day, chargeKey, plan.EndpointHours, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Shadows admitted to running workflows, of the request's service and in total, not counting the request's own.</summary>
    private async Task<(int InService, int Total)> RunningShadowsAsync(ShadowRequest request, CancellationToken cancellationToken)
    {
        // Every running plan counts, whatever its window (one Scheduled for next week too): an extension, which only the
        // budget checks, could otherwise make two windows that passed the caps apart overlap.
        int inService = 0, total = 0;
        foreach (var plan in await PlansAsync(cancellationToken).ConfigureAwait(false))
        {
            if (plan is { Decision: ShadowPlanDecision.Admitted, InstanceId: { } id } && plan.RequestId != request.Id && await IsRunningAsync(id, cancellationToken).ConfigureAwait(false))
            {
                var running = plan.ManualCount ?? plan.Count; // an operator's resize runs, not the count admitted
                total += running;
                inService += plan.Service == request.Service ? running : 0;
            }
        }

        return (inService, total);
    }

    /// <summary>
    /// Charges <paramref name="hours"/> to <paramref name="requestId"/> on <paramref name="day"/> (replacing what it was
    /// charged before) unless the day would go over <paramref name="limit"/>; checked and written with the ETag, so two
    /// hosts charging at once cannot overspend. Returns why it was refused, or null.
    /// </summary>
    private async Task<string?> ChargeAsync(DateOnly day, string requestId, double hours, double limit, CancellationToken cancellationToken)
    {
        string? refusal = null;
        await store.UpdateJsonAsync<ShadowBudgetDay>(
            StateKeys.ShadowBudget(day),
            current =>
            {
                var requests = new Dictionary<string, double>(current?.Requests ?? new Dictionary<string, double>(), StringComparer.Ordinal);
                refusal = ShadowAdmission.BudgetRefusal(hours, day, requests.Where(r => r.Key != requestId).Sum(r => r.Value), limit);
                if (refusal is not null)
                {
                    return current ?? new ShadowBudgetDay { Day = day, EndpointHours = 0 };
                }

                requests[requestId] = hours;
                return new ShadowBudgetDay { Day = day, EndpointHours = requests.Values.Sum(), Requests = requests };
            },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return refusal;
    }

    /// <summary>
    /// A completed lifecycle's outcome; null when it has none that reads as one. Only an extension it received after its
    /// hold ended (<see cref="ShadowOutcome.UnheldExtension"/>) makes its own end, not the plan's, where the next revision
    /// starts: an end an operator moved earlier by hand is no such thing, and is not undone.
    /// </summary>
    private static ShadowOutcome? Outcome(WorkflowState? instance)
    {
        if (instance is not { RuntimeStatus: WorkflowRuntimeStatus.Completed })
        {
            return null;
        }

        try
        {
            return instance.ReadOutputAs<ShadowOutcome>();
        }
        catch (System.Text.Json.JsonException)
        {
            return null; // not a lifecycle's outcome (another workflow registered under its name): the plan's end stands
        }
    }

    private static bool Grew(ShadowPlan plan, ShadowRequest request) => request.Count > plan.Count || request.WindowEnd > plan.WindowEnd;

    /// <summary>What a revision is charged under in the day's budget: a later revision adds to what the earlier ones used.</summary>
    private static string ChargeKey(string requestId, int revision) =>
        revision == 1 ? requestId : $"{requestId}#r{revision.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>
    /// The plan of a workflow this revision already scheduled, when its plan was never stored (the store failed right
    /// after scheduling): admitted as it runs, whatever the kill switch, caps or budget say now. Decided again instead, it
    /// could be refused while its workflow runs on where the kill switch, the caps and the budget cannot see it.
    /// </summary>
    private async Task<ShadowPlan?> AdoptScheduledAsync(ShadowRequest request, int revision, CancellationToken cancellationToken)
    {
        var instanceId = ShadowLifecycleNames.InstanceId(request, revision);
        var instance = await workflows.GetWorkflowStateAsync(instanceId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false);
        if (instance is not { Exists: true } || instance.ReadInputAs<ShadowRequest>() is not { } running)
        {
            return null;
        }

        var plan = new ShadowPlan
        {
            RequestId = request.Id,
            Service = request.Service,
            Count = running.Count,
            WindowStart = running.WindowStart,
            WindowEnd = running.WindowEnd,
            Decision = ShadowPlanDecision.Admitted,
            Reason = $"Admitted: its workflow {instanceId} was already scheduled when this plan was first decided (the plan could not be stored then)",
            // From now when its window has started: a request first decided part of the way into its window keeps the window in
            // its input, and was charged from its decision (a tick or less before this).
            EndpointHours = ShadowAdmission.EndpointHours(running with { WindowStart = time.GetUtcNow() > running.WindowStart ? time.GetUtcNow() : running.WindowStart }, running.Count),
            InstanceId = instanceId,
            Revision = revision,
            DecidedAt = time.GetUtcNow(),
        };
        await ChargeAsync(DateOnly.FromDateTime(request.WindowStart.UtcDateTime), ChargeKey(request.Id, revision), plan.EndpointHours, double.PositiveInfinity, cancellationToken).ConfigureAwait(false);
        await store.SaveJsonAsync(StateKeys.ShadowPlan(request.Id), plan, cancellationToken: cancellationToken).ConfigureAwait(false);
        LogAdopted(request.Id, instanceId);
        return plan;
    }

    private async Task<bool> ExistsAsync(string instanceId, CancellationToken cancellationToken) =>
        await workflows.GetWorkflowStateAsync(instanceId, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is { Exists: true };

    private async Task<bool> IsRunningAsync(string instanceId, CancellationToken cancellationToken) =>
        await workflows.GetWorkflowStateAsync(instanceId, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false) is { Exists: true, IsWorkflowCompleted: false };

    [LoggerMessage(EventId = 96, Level = LogLevel.Warning, Message = "Shadow request {RequestId}: its workflow {InstanceId} was scheduled but its plan not stored; stored now as admitted")]
    private partial void LogAdopted(string requestId, string instanceId);

    [LoggerMessage(EventId = 95, Level = LogLevel.Warning, Message = "Shadow request {RequestId}: its workflow {InstanceId} is gone without having been seen to end (the workflow store was lost?); deciding it again as its next revision")]
    private partial void LogInstanceMissing(string requestId, string instanceId);

    [LoggerMessage(EventId = 93, Level = LogLevel.Information, Message = "Shadow request {RequestId} and its plan deleted: its window ended at {WindowEnd:u}, longer ago than they are kept")]
    private partial void LogForgotten(string requestId, DateTimeOffset windowEnd);

    [LoggerMessage(EventId = 80, Level = LogLevel.Information, Message = "Shadow request {RequestId}: {Decision}. {Reason}")]
    private partial void LogDecided(string requestId, ShadowPlanDecision decision, string reason);

    [LoggerMessage(EventId = 81, Level = LogLevel.Information, Message = "Shadow request {RequestId} updated: {Count} shadow(s) until {WindowEnd:u}")]
    private partial void LogUpdated(string requestId, int count, DateTimeOffset windowEnd);

    [LoggerMessage(EventId = 79, Level = LogLevel.Warning, Message = "Reconciler: shadow request at {Key} could not be decided; retried at the next tick")]
    private partial void LogReconcileFailed(Exception error, string key);

    [LoggerMessage(EventId = 83, Level = LogLevel.Information, Message = "Reconciler: {Count} open shadow request(s) decided or updated ({RequestIds})")]
    private partial void LogReconciled(int count, string requestIds);

    [LoggerMessage(EventId = 82, Level = LogLevel.Warning, Message = "{Reason}: {Released} workflow(s) released")]
    private partial void LogKillSwitch(string reason, int released);
}
