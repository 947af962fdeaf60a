using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Shadowing.Control.Workflows;
using Shadowing.Core.Configuration;
using Shadowing.Core.Data;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Core.Validation;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Planning;

namespace Shadowing.Control;

/// <summary>
/// The control surface's handlers, host-agnostic: each validates its input (400 naming the field), acts on the store,
/// the bus or a workflow instance, and returns a <see cref="ControlResult"/> that any host writes out. Served by the
/// Functions app (<c>/api/…</c>, function keys), the workflows host (Dapr-invoked) and <c>shadowing up</c>'s loopback
/// admin port.
/// </summary>
public sealed class ControlApi(IStateStore store, IEventBus bus, IWorkflowControl workflows, TimeProvider time, IOptions<ControlOptions>? options = null)
{
    /// <summary>Largest request body read (an event calendar of a few thousand entries fits).</summary>
    public const int MaxBodyBytes = 1 << 20;

    /// <summary>The window of a shadow started by hand when the body names none.</summary>
    public static readonly TimeSpan DefaultManualWindow = TimeSpan.FromHours(1);

    /// <summary>Longest window, and furthest start, of a hand-made request.</summary>
    public static readonly TimeSpan MaxManualWindow = TimeSpan.FromDays(30);

    /// <summary>Most shadows one hand-made request may ask for (the guard rails still apply after).</summary>
    public const int MaxManualCount = 50;

    /// <summary>Longest reason: it travels in the request, its pub/sub message and the audit entry.</summary>
    public const int MaxReasonLength = 500;

    private const string IdRule = "1 to 64 letters, digits, '-' or '_'";

    private readonly RoutingTableStore _tables = new(store, bus);
    private readonly AuditLog _audit = new(store, time);

    /// <summary><c>GET /api/workflows/{instanceId}</c>: the instance with daprd's fields; 404 when unknown.</summary>
    public Task<ControlResult> GetWorkflowAsync(string instanceId, CancellationToken cancellationToken) =>
        ReachingWorkflowsAsync(() => GetWorkflowCoreAsync(instanceId, cancellationToken), cancellationToken);

    private async Task<ControlResult> GetWorkflowCoreAsync(string instanceId, CancellationToken cancellationToken)
    {
        if (BadId(instanceId, "instanceId") is { } bad)
        {
            return bad;
        }

        return await workflows.GetAsync(instanceId, cancellationToken).ConfigureAwait(false) is { } status
            ? ControlResult.Ok(status)
            : UnknownInstance(instanceId);
    }

    /// <summary>
    /// <c>POST /api/workflows/{instanceId}/events/{name}</c>: raises <c>release</c>, <c>extend</c> or <c>resize</c> on a
    /// shadow lifecycle (the body, JSON, is its payload, checked here: a payload the workflow cannot read would fail it
    /// with its shadows still routable); <c>verdict</c> is validation's own and refused, and so is any other name (daprd
    /// would pass it on to do nothing). A null <paramref name="actor"/> is not audited: its caller audits it (the workflows host, for the
    /// Functions app).
    /// </summary>
    public Task<ControlResult> RaiseEventAsync(string instanceId, string name, Stream body, string? actor, CancellationToken cancellationToken) =>
        ReachingWorkflowsAsync(() => RaiseEventCoreAsync(instanceId, name, body, actor, cancellationToken), cancellationToken);

    private async Task<ControlResult> RaiseEventCoreAsync(string instanceId, string name, Stream body, string? actor, CancellationToken cancellationToken)
    {
        if ((BadId(instanceId, "instanceId") ?? BadId(name, "name")) is { } bad)
        {
            return bad;
        }

        // The workflow worker matches event names whatever their case (Dapr.Workflow's orchestration context): "Verdict" or
        // "EXTEND" would reach the lifecycle's waits unchecked.
        name = name.ToLowerInvariant();
        var (given, problem) = await ReadBodyAsync(body, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var (payload, badPayload) = EventPayload(name, given, time.GetUtcNow());
        if (badPayload is not null)
        {
            return badPayload;
        }

        if (await RunningAsync(instanceId, cancellationToken).ConfigureAwait(false) is { } notRunning)
        {
            return notRunning;
        }

        var setEnd = name is "extend" && payload is { } extended ? extended.GetProperty("windowEnd").GetDateTimeOffset() : (DateTimeOffset?)null;
        var setCount = name is "resize" && payload is { } resized && resized.TryGetProperty("count", out var c) ? c.GetInt32() : (int?)null;
        var overriding = setEnd is not null || setCount is not null;
        var marked = false;
        if (overriding)
        {
            // An override of the window or the count (new resources alone change neither): the intake would otherwise raise
            // the request's own end and count again at its next change. Marked before the event, so no intake pass in
            // between raises them over it; a mark left by an event refused below only keeps the PAE off an instance already
            // ended. What it sets is recorded once the event is accepted (below): the intake charges and counts it.
            marked = await store.TryCreateJsonAsync(StateKeys.ShadowOverride(instanceId), new ShadowOverride(name, actor ?? "unknown", time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await workflows.RaiseEventAsync(instanceId, name, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (WorkflowControlRefusedException ex)
        {
            return new ControlResult(ex.Problem.Status, ex.Problem);
        }
        catch (Exception) when (marked)
        {
            // Not known to have reached the workflow (the workflows app unreachable or slow: 502, 504, worth retrying): the
            // mark this call put up goes, or the intake would leave the request's own growth off a workflow no operator changed.
            await UnmarkAsync(instanceId).ConfigureAwait(false);
            throw;
        }

        if (overriding || name is "release")
        {
            // What an earlier override set is kept (an extend keeps a resize's count), so the intake records both. A release
            // closes the request (see ShadowOverride.ReleasedAt): marked once it reached the workflow, so a release that did not
            // closes nothing; a forecast merged in the moment between is lost to the released workflow, as before.
            // A release leaves what an extend or resize recorded as it was (the intake charges those from when they came).
            await store.UpdateJsonAsync<ShadowOverride>(
                StateKeys.ShadowOverride(instanceId),
                earlier => overriding || earlier is null
                    ? new ShadowOverride(name, actor ?? "unknown", time.GetUtcNow())
                    {
                        Count = setCount ?? earlier?.Count,
                        WindowEnd = setEnd ?? earlier?.WindowEnd,
                        ReleasedAt = earlier?.ReleasedAt ?? (overriding ? null : time.GetUtcNow()),
                    }
                    : earlier with { ReleasedAt = earlier.ReleasedAt ?? time.GetUtcNow() },
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (actor is not null)
        {
            await _audit.RecordAsync(actor, "raise-event", instanceId, name, cancellationToken).ConfigureAwait(false);
        }

        return ControlResult.Accepted(new { instanceID = instanceId, @event = name });
    }

    /// <summary>Deletes the override mark of <paramref name="instanceId"/> if it is still one with nothing recorded in it.</summary>
    private async Task UnmarkAsync(string instanceId)
    {
        var key = StateKeys.ShadowOverride(instanceId);
        try
        {
            if (await store.GetJsonAsync<ShadowOverride>(key, CancellationToken.None).ConfigureAwait(false) is { Value: { Count: null, WindowEnd: null } } bare)
            {
                await store.DeleteAsync(key, bare.ETag, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (StateStoreException)
        {
            // Left: it keeps the intake off the workflow's window and count until the operator raises the event again.
        }
    }

    /// <summary>
    /// <c>POST /api/workflows/{instanceId}/terminate</c>: ends the instance (its shadows are retired by the reconciler); a
    /// null <paramref name="actor"/> is not audited, as for <see cref="RaiseEventAsync"/>.
    /// </summary>
    public Task<ControlResult> TerminateAsync(string instanceId, Stream body, string? actor, CancellationToken cancellationToken) =>
        ReachingWorkflowsAsync(() => TerminateCoreAsync(instanceId, body, actor, cancellationToken), cancellationToken);

    private async Task<ControlResult> TerminateCoreAsync(string instanceId, Stream body, string? actor, CancellationToken cancellationToken)
    {
        if (BadId(instanceId, "instanceId") is { } bad)
        {
            return bad;
        }

        var (payload, problem) = await ReadBodyAsync(body, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var reason = "terminated through the control API";
        if (payload is { } given)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                return ControlResult.BadRequest("body", "expected {\"reason\": \"…\"} or no body.");
            }

            if (Unknown(given, "reason") is { } unknown)
            {
                return ControlResult.BadRequest(unknown, $"unknown field '{unknown}'; known: reason.");
            }

            if (given.TryGetProperty("reason", out var r))
            {
                if (r.ValueKind != JsonValueKind.String || r.GetString()!.Length > MaxReasonLength)
                {
                    return ControlResult.BadRequest("reason", $"must be a string of at most {MaxReasonLength} characters.");
                }

                reason = r.GetString()!;
            }
        }

        if (await RunningAsync(instanceId, cancellationToken).ConfigureAwait(false) is { } notRunning)
        {
            return notRunning;
        }

        try
        {
            await workflows.TerminateAsync(instanceId, reason, cancellationToken).ConfigureAwait(false);
        }
        catch (WorkflowControlRefusedException ex)
        {
            return new ControlResult(ex.Problem.Status, ex.Problem);
        }

        if (actor is not null)
        {
            await _audit.RecordAsync(actor, "terminate", instanceId, reason, cancellationToken).ConfigureAwait(false);
        }

        return ControlResult.Accepted(new { instanceID = instanceId, reason });
    }

    /// <summary>
    /// <c>GET /api/services/{service}</c>: the routing table, the shadows with their phases and verdicts, the open
    /// requests with their plans and workflows, the latest forecast and what the PAE last did; 404 when the store knows
    /// nothing of the service.
    /// </summary>
    public async Task<ControlResult> GetServiceAsync(string service, CancellationToken cancellationToken)
    {
        if (BadService(service) is { } bad)
        {
            return bad;
        }

        var table = await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false);
        var shadows = new List<ShadowStatus>();
        foreach (var shadow in table?.Value.Shadows ?? [])
        {
            var verdict = (await store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict(service, shadow.Id), cancellationToken).ConfigureAwait(false))?.Value;
            var data = (await store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord(service, shadow.Id), cancellationToken).ConfigureAwait(false))?.Value;
            var mark = (await store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync(service, shadow.Id), cancellationToken).ConfigureAwait(false))?.Value;
            shadows.Add(new ShadowStatus(shadow.Id, shadow.State, shadow.Address, shadow.Owner, shadow.StateChangedAt, verdict?.Verdict, verdict?.JudgedAt, verdict?.Reasons, data, data?.FailingSince is not null ? data.LagAt(mark, time.GetUtcNow()).TotalSeconds : mark?.LagAt(time.GetUtcNow()).TotalSeconds));
        }

        var open = new List<(ShadowRequest Request, ShadowPlan? Plan)>();
        var now = time.GetUtcNow();
        foreach (var key in await store.ListKeysAsync(StateKeys.ShadowRequests(service), cancellationToken).ConfigureAwait(false))
        {
            if ((await store.GetJsonAsync<ShadowRequest>(key, cancellationToken).ConfigureAwait(false))?.Value is { } request && request.WindowEnd > now)
            {
                open.Add((request, await PlanOfAsync(request.Id, cancellationToken).ConfigureAwait(false)));
            }
        }

        // All at once: with the workflows app hung, a week of open requests costs one wait, not one each (past the caller's).
        var summaries = await Task.WhenAll(open.Select(o => o.Plan?.InstanceId is { } id ? SummaryAsync(id, cancellationToken) : Task.FromResult<WorkflowSummary?>(null))).ConfigureAwait(false);
        var requests = open.Select((o, i) => new RequestStatus(o.Request, o.Plan, summaries[i])).ToList();

        var forecast = (await store.GetJsonAsync<JsonElement>(StateKeys.Forecast(service), cancellationToken).ConfigureAwait(false))?.Value;
        var pae = (await store.GetJsonAsync<JsonElement>(StateKeys.PaeStatus(service), cancellationToken).ConfigureAwait(false))?.Value;
        if (table is null && requests.Count == 0 && forecast is null && pae is null)
        {
            return ControlResult.NotFound("service", $"Nothing is stored for service '{service}': no routing table, shadow request or forecast.");
        }

        return ControlResult.Ok(new ServiceStatus(service, table?.Value, shadows, requests, forecast, pae), table?.ETag);
    }

    /// <summary>
    /// <c>POST /api/services/{service}/shadows</c>: asks SEP for shadows by hand, as the PAE would, through the same
    /// guard rails. Body (all optional): <c>count</c> (default 1), <c>start</c> (default now), <c>end</c> or
    /// <c>duration</c> (default one hour), <c>reason</c>. 202 with the request; its plan and workflow show in the service's status.
    /// </summary>
    public async Task<ControlResult> StartShadowsAsync(string service, Stream body, string actor, CancellationToken cancellationToken)
    {
        if (BadService(service) is { } bad)
        {
            return bad;
        }

        var (payload, problem) = await ReadBodyAsync(body, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var now = time.GetUtcNow();

        // A window that starts now starts at the minute (as request ids do), so a retried call within it asks for the same
        // window and finds its request (200), rather than one a few milliseconds longer (another extend on the workflow).
        var minute = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
        var count = 1;
        var start = minute;
        DateTimeOffset? end = null;
        var reason = "started by hand through the control API";
        if (payload is { } given)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                return ControlResult.BadRequest("body", "expected a JSON object such as {\"count\": 1, \"duration\": \"01:00:00\"}, or no body.");
            }

            if (Unknown(given, "count", "start", "end", "duration", "reason") is { } unknown)
            {
                return ControlResult.BadRequest(unknown, $"unknown field '{unknown}'; known: count, start, end, duration, reason.");
            }

            if (given.TryGetProperty("count", out var c) && (c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out count) || count < 1 || count > MaxManualCount))
            {
                return ControlResult.BadRequest("count", $"must be a whole number from 1 to {MaxManualCount}.");
            }

            if (given.TryGetProperty("start", out var s) && (!TryTime(s, out start) || start > now + MaxManualWindow))
            {
                return ControlResult.BadRequest("start", $"must be an ISO 8601 timestamp within {MaxManualWindow.TotalDays:0} days from now, such as 2026-12-02T14:00:00Z.");
            }

            if (given.TryGetProperty("end", out var e))
            {
                if (!TryTime(e, out var parsed))
                {
                    return ControlResult.BadRequest("end", "must be an ISO 8601 timestamp such as 2026-12-02T16:00:00Z.");
                }

                end = parsed;
            }

            if (given.TryGetProperty("duration", out var d))
            {
                if (end is not null)
                {
                    return ControlResult.BadRequest("duration", "give end or duration, not both.");
                }

                if (d.ValueKind != JsonValueKind.String || !Durations.TryParse(d.GetString(), out var duration) || duration <= TimeSpan.Zero || duration > MaxManualWindow)
                {
                    return ControlResult.BadRequest("duration", $"must be a positive time span of at most {MaxManualWindow.TotalDays:0} days, such as \"01:30:00\" or \"90m\" (a bare number has no unit).");
                }

                end = (start < now ? minute : start) + duration;
            }

            if (given.TryGetProperty("reason", out var r))
            {
                if (r.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(r.GetString()) || r.GetString()!.Length > MaxReasonLength)
                {
                    return ControlResult.BadRequest("reason", $"must be a non-empty string of at most {MaxReasonLength} characters.");
                }

                reason = r.GetString()!;
            }
        }

        start = start < now ? minute : start;
        if (start > now + MaxManualWindow)
        {
            return ControlResult.BadRequest("start", $"must be within {MaxManualWindow.TotalDays:0} days from now.");
        }

        var windowEnd = end ?? start + DefaultManualWindow;
        if (windowEnd <= start || windowEnd <= now)
        {
            var field = end is null ? "start" : payload is { } sent && sent.TryGetProperty("duration", out _) ? "duration" : "end";
            return ControlResult.BadRequest(field, $"the window must end after it starts ({start:u}) and after now ({now:u}).");
        }

        if (windowEnd - start > MaxManualWindow)
        {
            return ControlResult.BadRequest("end", $"the window may last at most {MaxManualWindow.TotalDays:0} days (as duration), from {start:u}.");
        }

        if (await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false) is null)
        {
            return ControlResult.NotFound("service", $"Service '{service}' has no routing table: there is nothing to shadow.");
        }

        var request = new ShadowRequest
        {
            Id = ShadowRequest.IdOf(service, start),
            Service = service,
            Count = count,
            WindowStart = start,
            WindowEnd = windowEnd,
            Kinds = [ShadowRequestKind.Manual],
            ManualUntil = windowEnd,
            Reason = reason,
            CreatedAt = now,
            UpdatedAt = now,
        };
        var requests = new ShadowRequestStore(store, bus);

        // An open request covering the window takes this one in (SubmitAsync merges: the larger count, the later end, its
        // own start kept). Checked before anything is stored, so that a request that would run nothing is refused rather
        // than answered 202: a covering workflow that terminated or failed is never started again for that window; one
        // that completed runs again only past its end; a refused request is decided again for more shadows or a longer
        // window; and an operator's own request that waits (Scheduled) for a later start is not moved earlier.
        foreach (var covering in (await requests.ListAsync(service, cancellationToken).ConfigureAwait(false)).Where(r => r.WindowEnd >= start && r.WindowStart <= windowEnd))
        {
            if (await requests.ReleasedByHandAsync(covering.Id, cancellationToken).ConfigureAwait(false))
            {
                if (covering.Id == request.Id)
                {
                    // Requests are keyed by their start's minute: this one would be the released one again, which never runs again.
                    return ControlResult.Conflict($"Request {covering.Id} starts in the same minute and its workflow was released by hand: a released request does not run again. Ask for a start in another minute.");
                }

                continue; // released by hand: closed, so this request is stored on its own and runs (SubmitAsync merges nothing into it)
            }

            var plan = await PlanOfAsync(covering.Id, cancellationToken).ConfigureAwait(false);
            var summary = plan is { InstanceId: { } id } ? await SummaryAsync(id, cancellationToken).ConfigureAwait(false) : null;
            if (summary is { RuntimeStatus: "UNKNOWN" })
            {
                // Every check below needs its state: accepted unchecked, the request could merge into a workflow that ended
                // and never run, while the caller was told it would.
                return new ControlResult(StatusCodes.Status503ServiceUnavailable, new ControlProblem("Service unavailable", StatusCodes.Status503ServiceUnavailable, $"Request {covering.Id} covers this window, and the state of its workflow {summary.InstanceId} cannot be read ({summary.Error}): nothing was stored; try again."));
            }

            if (summary is { RuntimeStatus: "TERMINATED" or "FAILED" })
            {
                return ControlResult.Conflict($"Request {covering.Id} covers this window, and its workflow {summary.InstanceId} has ended {summary.RuntimeStatus}: it is not started again for the same window. Ask for a window starting after {covering.WindowEnd:u}, or see /api/services/{service}.");
            }

            if (start < covering.WindowStart && (summary?.Phase == "Scheduled" || (summary is null && plan is not { Decision: ShadowPlanDecision.Refused } && covering.Kinds.All(k => k == ShadowRequestKind.Manual))))
            {
                return ControlResult.Conflict($"Request {covering.Id} covers this window from {covering.WindowStart:u} and waits for it; a stored request's start is not moved earlier. Ask for a window ending before {covering.WindowStart:u}{(summary is null ? string.Empty : $", or release its workflow {summary.InstanceId} first")}.");
            }

            if (count <= covering.Count && windowEnd <= covering.WindowEnd && plan is { Decision: ShadowPlanDecision.Refused })
            {
                return ControlResult.Conflict($"Request {covering.Id} covers this window with at least as many shadows and was refused: {plan.Reason}");
            }

            if (windowEnd <= covering.WindowEnd && summary is { RuntimeStatus: "COMPLETED" })
            {
                // The intake runs a completed request again only past the end it ran to, whatever the count.
                return ControlResult.Conflict($"Request {covering.Id} covers this window, and its workflow {summary.InstanceId} has completed (no shadow passed validation, the kill switch released it, or a release reached it other than through this API): it runs again only for a window ending after {covering.WindowEnd:u} (or, when the kill switch released it and no operator had moved its end or count by hand, for what is left of it once the kill switch is off).");
            }
        }

        var (stored, published) = await requests.SubmitAsync(request, cancellationToken).ConfigureAwait(false);
        if (!published)
        {
            return ControlResult.Ok(new ShadowRequestAccepted(stored.Id, stored, $"/api/services/{service}", $"request {stored.Id} already covers this window with at least as many shadows: nothing changed"));
        }

        await _audit.RecordAsync(actor, "start-shadows", service, $"{count} shadow(s) {start:u} – {windowEnd:u} (request {stored.Id})", cancellationToken).ConfigureAwait(false);
        return ControlResult.Accepted(new ShadowRequestAccepted(stored.Id, stored, $"/api/services/{service}"));
    }

    private async Task<ShadowPlan?> PlanOfAsync(string requestId, CancellationToken cancellationToken) =>
        (await store.GetJsonAsync<ShadowPlan>(StateKeys.ShadowPlan(requestId), cancellationToken).ConfigureAwait(false))?.Value;

    /// <summary>
    /// <c>POST /api/services/{service}/shadows/{shadowId}/promote</c>: body <c>{"to": "active"|"production"}</c>
    /// (default active); 409 with the reason when the verdicts do not allow it.
    /// </summary>
    public async Task<ControlResult> PromoteAsync(string service, string shadowId, Stream body, string actor, CancellationToken cancellationToken)
    {
        // A shadow id is an endpoint id of the routing table (dots allowed: a hand-placed `canary.v2`), not a workflow id.
        var badShadow = ServiceNames.IsValid(shadowId) ? null : ControlResult.BadRequest("shadowId", $"'{shadowId}' is not a valid shadowId: {ServiceNames.Rule}.");
        if ((BadService(service) ?? badShadow) is { } bad)
        {
            return bad;
        }

        var (payload, problem) = await ReadBodyAsync(body, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var target = PromotionTarget.Active;
        if (payload is { } given)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                return ControlResult.BadRequest("body", "expected {\"to\": \"active\"} or {\"to\": \"production\"}, or no body.");
            }

            if (Unknown(given, "to") is { } unknown)
            {
                return ControlResult.BadRequest(unknown, $"unknown field '{unknown}'; known: to.");
            }

            // The two names only: Enum.TryParse would also take "1" and "active,production", and this step cannot be undone.
            if (given.TryGetProperty("to", out var to) && (to.ValueKind != JsonValueKind.String || to.GetString() is not { } name
                || !(name.Equals("active", StringComparison.OrdinalIgnoreCase) || name.Equals("production", StringComparison.OrdinalIgnoreCase))
                || !Enum.TryParse(name, ignoreCase: true, out target)))
            {
                return ControlResult.BadRequest("to", "must be \"active\" or \"production\".");
            }
        }

        var table = await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false);
        if (table is null)
        {
            return ControlResult.NotFound("service", $"Service '{service}' has no routing table.");
        }

        if (ShadowPromotion.IsPromoted(table.Value, shadowId, target))
        {
            return ControlResult.Ok(table.Value); // a retry: done already, nothing written or audited again
        }

        if (!table.Value.Shadows.Any(s => string.Equals(s.Id, shadowId, StringComparison.Ordinal)))
        {
            return ControlResult.NotFound("shadowId", $"Service '{service}' has no shadow '{shadowId}'.");
        }

        try
        {
            var promoted = await new ShadowPromotion(store, bus, time).PromoteAsync(service, shadowId, target, cancellationToken).ConfigureAwait(false);
            await _audit.RecordAsync(actor, "promote", $"{service}/{shadowId}", $"to {target.ToString().ToLowerInvariant()}", cancellationToken).ConfigureAwait(false);
            return ControlResult.Ok(promoted);
        }
        catch (PromotionRefusedException ex)
        {
            return ControlResult.Conflict(ex.Message);
        }
    }

    /// <summary><c>GET /api/services/{service}/events</c>: the campaign and news calendar the PAE reads.</summary>
    public async Task<ControlResult> GetEventsAsync(string service, CancellationToken cancellationToken)
    {
        if (BadService(service) is { } bad)
        {
            return bad;
        }

        var entry = await store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events(service), cancellationToken).ConfigureAwait(false);
        return ControlResult.Ok(entry?.Value ?? [], entry?.ETag);
    }

    /// <summary>
    /// <c>PUT /api/services/{service}/events</c>: replaces the calendar with the body, a JSON array of
    /// <c>{start, end, name, kind, expectedMultiplier?}</c>; a bad entry is named by its index and field. With
    /// <paramref name="ifMatch"/> (the ETag <c>GET</c> gave) it replaces only the calendar that was read: 412 when another
    /// write came in between, so two operators editing at once do not silently lose one edit. As in RFC 9110,
    /// <c>If-Match: *</c> replaces only a calendar that exists, and <paramref name="ifNoneMatch"/> <c>*</c> writes only one
    /// that does not (the way to create the first without losing one written meanwhile: an empty calendar has no ETag).
    /// </summary>
    public async Task<ControlResult> PutEventsAsync(string service, Stream body, string? ifMatch, string actor, CancellationToken cancellationToken, string? ifNoneMatch = null)
    {
        if (BadService(service) is { } bad)
        {
            return bad;
        }

        var (payload, problem) = await ReadBodyAsync(body, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        if (payload is not { ValueKind: JsonValueKind.Array } array)
        {
            return ControlResult.BadRequest("body", "expected a JSON array of events: [{\"start\": …, \"end\": …, \"name\": …, \"kind\": …, \"expectedMultiplier\": …}].");
        }

        // Every bad entry is named (its first bad field), so a calendar pasted from elsewhere is fixed in one round.
        var events = new List<CalendarEvent>();
        var errors = new List<(string Field, string Detail)>();
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var (parsed, error) = CalendarEventJson.Parse(item, $"events[{index}]");
            if (error is { } invalid)
            {
                errors.Add((invalid.Field, invalid.Message));
            }
            else
            {
                events.Add(parsed!);
            }

            index++;
        }

        if (errors.Count > 0)
        {
            return ControlResult.BadRequest(errors);
        }

        // The PAE reads the calendar under the table's own spelling; the router matches services ignoring case.
        // An empty calendar is let through: it is how one written under a twin's name before this check is cleared.
        if (events.Count > 0 && await _tables.FindCaseTwinAsync(service, cancellationToken).ConfigureAwait(false) is { } twin)
        {
            return ControlResult.BadRequest("service", $"'{service}' differs only in case from the stored service '{twin}', whose calendar the PAE reads: PUT /api/services/{twin}/events.");
        }

        events.Sort((a, b) => a.Start.CompareTo(b.Start));
        var key = StateKeys.Events(service);
        if (ifNoneMatch?.Trim() == "*")
        {
            if (!await store.TryCreateJsonAsync(key, events, cancellationToken).ConfigureAwait(false))
            {
                return ControlResult.PreconditionFailed($"'{service}' already has a calendar (If-None-Match: *): GET it, apply the change, and PUT with its ETag.");
            }

            await _audit.RecordAsync(actor, "put-events", service, $"{events.Count} event(s)", cancellationToken).ConfigureAwait(false);
            return ControlResult.Ok(events);
        }

        var etag = ifMatch?.Trim() is { Length: > 0 } given ? given.Replace("W/", string.Empty, StringComparison.Ordinal).Trim('"') : null;
        if (etag == "*")
        {
            // Any calendar that exists, not none: the ETag it has now.
            etag = (await store.GetAsync(key, cancellationToken).ConfigureAwait(false))?.ETag;
            if (etag is null)
            {
                return ControlResult.PreconditionFailed($"'{service}' has no calendar yet (If-Match: *): create it with If-None-Match: *, or without a condition.");
            }
        }

        try
        {
            await store.SaveJsonAsync(key, events, etag, cancellationToken).ConfigureAwait(false);
        }
        catch (StateConflictException)
        {
            return ControlResult.PreconditionFailed($"The calendar of '{service}' changed since ETag {ifMatch} was read: GET it again, apply the change, and PUT with the new ETag.");
        }

        await _audit.RecordAsync(actor, "put-events", service, $"{events.Count} event(s)", cancellationToken).ConfigureAwait(false);
        return ControlResult.Ok(events);
    }

    /// <summary><c>GET /api/audit?day=yyyy-MM-dd</c>: the operator actions of a UTC day (default today), oldest first.</summary>
    public async Task<ControlResult> GetAuditAsync(string? day, CancellationToken cancellationToken)
    {
        var date = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        if (day is { Length: > 0 } && !DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date))
        {
            return ControlResult.BadRequest("day", $"'{day}' is not a date such as 2026-12-02.");
        }

        return ControlResult.Ok(await _audit.ListAsync(date, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Minutes <see cref="GetTrafficAsync"/> answers by default, and at most.</summary>
    public const int DefaultTrafficMinutes = 120;

    /// <inheritdoc cref="DefaultTrafficMinutes"/>
    public const int MaxTrafficMinutes = 1440;

    /// <summary>
    /// <c>GET /api/services/{service}/traffic?minutes=N</c> (default 120, at most 1440): the router's per-minute records of
    /// the last N whole minutes summed by the role of the endpoint that served: production, shadow and default requests,
    /// errors (the service's actual demand and its routing split). Minutes without records are absent.
    /// </summary>
    public async Task<ControlResult> GetTrafficAsync(string service, string? minutes, CancellationToken cancellationToken)
    {
        var count = DefaultTrafficMinutes;
        if (BadService(service) is { } bad)
        {
            return bad;
        }

        if (minutes is { Length: > 0 } && (!int.TryParse(minutes, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > MaxTrafficMinutes))
        {
            return ControlResult.BadRequest("minutes", $"'{minutes}' is not a whole number of minutes from 1 to {MaxTrafficMinutes}.");
        }

        var now = time.GetUtcNow();
        var to = TimeGrid.Floor(now, TimeSpan.FromMinutes(1));
        var from = to.AddMinutes(-count);
        var byMinute = new SortedDictionary<DateTimeOffset, TrafficMinute>();
        await foreach (var records in EndpointMetricsDay.ReadAsync(store, service, from, to, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            foreach (var record in records.Minutes.Where(m => m.Minute >= from && m.Minute < to))
            {
                var minute = byMinute.GetValueOrDefault(record.Minute, new TrafficMinute(record.Minute, 0, 0, 0, 0));
                byMinute[record.Minute] = record.Role switch
                {
                    EndpointRole.Shadow => minute with { Shadow = minute.Shadow + record.Requests, Errors = minute.Errors + record.Errors },
                    EndpointRole.Default => minute with { Default = minute.Default + record.Requests, Errors = minute.Errors + record.Errors },
                    _ => minute with { Production = minute.Production + record.Requests, Errors = minute.Errors + record.Errors },
                };
            }
        }

        return ControlResult.Ok(new ServiceTraffic(service, from, to, [.. byMinute.Values]));
    }

    /// <summary><c>GET /api/routing</c>: every service's routing table.</summary>
    public async Task<ControlResult> ListRoutingTablesAsync(CancellationToken cancellationToken) =>
        ControlResult.Ok((await _tables.ListAsync(cancellationToken).ConfigureAwait(false)).Select(e => e.Value).ToArray());

    /// <summary><c>GET /api/routing/{service}</c>: one routing table, with its ETag.</summary>
    public async Task<ControlResult> GetRoutingTableAsync(string service, CancellationToken cancellationToken)
    {
        if (BadService(service) is { } bad)
        {
            return bad;
        }

        return await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false) is { } entry
            ? ControlResult.Ok(entry.Value, entry.ETag)
            : ControlResult.NotFound("service", $"No routing table is stored for service '{service}'.");
    }

    /// <summary>Whether <paramref name="id"/> is a workflow instance id (also the rule for event names and shadow ids here).</summary>
    public static bool IsValidId(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static ControlResult? BadId(string id, string field) =>
        IsValidId(id) ? null : ControlResult.BadRequest(field, $"'{id}' is not a valid {field}: {IdRule}.");

    private static ControlResult? BadService(string service) =>
        ServiceNames.IsValid(service) ? null : ControlResult.BadRequest("service", $"'{service}' is not a service name: {ServiceNames.Rule}.");

    private readonly TimeSpan _summaryTimeout = options?.Value.WorkflowStatusTimeout ?? ControlOptions.DefaultWorkflowStatusTimeout;

    /// <summary>
    /// Runs a handler that reaches the workflows app; when it cannot be reached (the Functions app asks it over service
    /// invocation), a 502 or 504 that says so, not an empty 500.
    /// </summary>
    private static async Task<ControlResult> ReachingWorkflowsAsync(Func<Task<ControlResult>> handler, CancellationToken cancellationToken)
    {
        try
        {
            return await handler().ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is HttpRequestException or System.Net.Sockets.SocketException)
        {
            return new ControlResult(StatusCodes.Status502BadGateway, new ControlProblem("Bad gateway", StatusCodes.Status502BadGateway, $"The workflows app could not be reached: {ex.Message}"));
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return new ControlResult(StatusCodes.Status504GatewayTimeout, new ControlProblem("Gateway timeout", StatusCodes.Status504GatewayTimeout, $"The workflows app did not answer in time: {ex.Message}"));
        }
    }

    private static ControlResult UnknownInstance(string instanceId) =>
        ControlResult.NotFound("instanceId", $"No workflow instance '{instanceId}'.");

    private async Task<ControlResult?> RunningAsync(string instanceId, CancellationToken cancellationToken) =>
        await workflows.GetAsync(instanceId, cancellationToken).ConfigureAwait(false) switch
        {
            null => UnknownInstance(instanceId),
            { HasEnded: true } ended => ControlResult.Conflict($"Workflow instance '{instanceId}' has ended ({ended.RuntimeStatus}): events and termination no longer reach it."),
            _ => null,
        };

    private async Task<WorkflowSummary?> SummaryAsync(string instanceId, CancellationToken cancellationToken)
    {
        WorkflowStatus? status;
        using var timeout = new CancellationTokenSource(_summaryTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            status = await workflows.GetAsync(instanceId, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && (ex is HttpRequestException or System.Net.Sockets.SocketException or OperationCanceledException || timeout.IsCancellationRequested))
        {
            // The workflows app is down or slow: the rest of the service's status is what an incident needs most, and a
            // hung app must not hold it for the invoke client's 100 s per open request. (The workflow client's gRPC call
            // reports its cancellation as an RpcException, hence any error once the timeout fired.)
            return new WorkflowSummary(instanceId, "UNKNOWN", null, timeout.IsCancellationRequested ? $"the workflows app did not answer within {Durations.Describe(_summaryTimeout)}" : ex.Message);
        }

        string? phase = null;
        if (status is not null && status.Properties.TryGetValue(WorkflowStatus.CustomStatusProperty, out var custom))
        {
            try
            {
                using var document = JsonDocument.Parse(custom);
                phase = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("phase", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            }
            catch (JsonException)
            {
                // A custom status that is not ours (not the lifecycle's): no phase to show.
            }
        }

        return new WorkflowSummary(instanceId, status?.RuntimeStatus ?? "NOT_FOUND", phase);
    }

    /// <summary>Reads a JSON body: null for an empty one, 400 naming the body for one that is not JSON or too large.</summary>
    private static async Task<(JsonElement? Value, ControlResult? Problem)> ReadBodyAsync(Stream body, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return (null, ControlResult.BadRequest("body", $"larger than {MaxBodyBytes} bytes."));
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0 || buffer.ToArray().All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            return (null, null);
        }

        if (!System.Text.Unicode.Utf8.IsValid(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)))
        {
            // JsonDocument checks strings' UTF-8 only when they are read: a bad name or value would throw deep in a handler.
            return (null, ControlResult.BadRequest("body", "not valid UTF-8."));
        }

        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray());
            root = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            return (null, ControlResult.BadRequest("body", $"not valid JSON: {ex.Message}"));
        }

        // Valid JSON, but an escaped lone surrogate ("\ud800") is no string: reading it would throw deep in a handler (500).
        return UnreadableString(root, "$") is { } path
            ? (null, ControlResult.BadRequest("body", $"the name or string at {path} holds an escaped lone surrogate (\\ud800 to \\udfff unpaired), which is not text."))
            : (root, null);
    }

    /// <summary>The path of the first property name or string that cannot be read as text, or null.</summary>
    private static string? UnreadableString(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        return path;
                    }

                    if (UnreadableString(property.Value, $"{path}.{name}") is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (UnreadableString(item, $"{path}[{index++}]") is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case JsonValueKind.String:
                try
                {
                    _ = element.GetString();
                    return null;
                }
                catch (InvalidOperationException)
                {
                    return path;
                }

            default:
                return null;
        }
    }

    /// <summary>
    /// The payload of an event raised by hand, as the lifecycle reads it: <c>release</c> a reason (a string, or no body),
    /// <c>extend</c> <c>{"windowEnd"}</c> within <see cref="MaxManualWindow"/>, <c>resize</c> <c>{"count", "resources"}</c>
    /// with a count up to <see cref="MaxManualCount"/>.
    /// </summary>
    private static (JsonElement? Payload, ControlResult? Problem) EventPayload(string name, JsonElement? given, DateTimeOffset now)
    {
        switch (name)
        {
            case "release":
                // Bounded as terminate's reason is: it is kept in the workflow's history and output, and shown by `status`.
                return given is null or { ValueKind: JsonValueKind.Null } || (given is { ValueKind: JsonValueKind.String } reason && reason.GetString()!.Length <= MaxReasonLength)
                    ? (given, null)
                    : (null, ControlResult.BadRequest("body", $"release takes a reason (a JSON string of at most {MaxReasonLength} characters) or no body."));
            case "extend":
                if (given is not { ValueKind: JsonValueKind.Object } extend)
                {
                    return (null, ControlResult.BadRequest("body", "extend takes {\"windowEnd\": \"2026-12-02T16:00:00Z\"}."));
                }

                if (Unknown(extend, "windowEnd") is { } unknownExtend)
                {
                    return (null, ControlResult.BadRequest(unknownExtend, $"unknown field '{unknownExtend}'; known: windowEnd."));
                }

                if (!extend.TryGetProperty("windowEnd", out var e) || !TryTime(e, out var end) || end <= now || end > now + MaxManualWindow)
                {
                    var what = !extend.TryGetProperty("windowEnd", out _) ? "is required" : !TryTime(e, out var asked) ? "is not a timestamp" : asked <= now ? "is not after now" : $"is more than {MaxManualWindow.TotalDays:0} days away";
                    return (null, ControlResult.BadRequest("windowEnd", $"{what}: an ISO 8601 timestamp after now and within {MaxManualWindow.TotalDays:0} days, such as 2026-12-02T16:00:00Z."));
                }

                return (JsonSerializer.SerializeToElement(new { windowEnd = end }), null);
            case "resize":
                if (given is not { ValueKind: JsonValueKind.Object } resize)
                {
                    return (null, ControlResult.BadRequest("body", "resize takes {\"count\": 2}, {\"resources\": {\"size\": 2, \"addedLatencyMs\": 0, \"errorRate\": 0}} or both."));
                }

                if (Unknown(resize, "count", "resources") is { } unknownResize)
                {
                    return (null, ControlResult.BadRequest(unknownResize, $"unknown field '{unknownResize}'; known: count, resources."));
                }

                int? count = null;
                if (resize.TryGetProperty("count", out var c))
                {
                    if (c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out var n) || n < 0 || n > MaxManualCount)
                    {
                        return (null, ControlResult.BadRequest("count", $"must be a whole number from 0 (drain them all) to {MaxManualCount}."));
                    }

                    count = n;
                }

                ShadowResources? resources = null;
                if (resize.TryGetProperty("resources", out var r))
                {
                    (resources, var badResources) = Resources(r);
                    if (badResources is not null)
                    {
                        return (null, badResources);
                    }
                }

                return count is null && resources is null
                    ? (null, ControlResult.BadRequest("body", "resize needs count, resources or both."))
                    : (JsonSerializer.SerializeToElement(new { count, resources = resources is null ? null : new { size = resources.Size, addedLatencyMs = resources.AddedLatencyMs, errorRate = resources.ErrorRate } }, ShadowingJson.Options), null); // a field not given is left out: the workflows host checks a forwarded payload again, and a null there is not an object
            case "verdict":
                // A made-up Fail would remediate or retire a shadow that validation never judged.
                return (null, ControlResult.BadRequest("name", "verdicts are raised by validation itself; by hand: release, extend, resize."));
            default:
                // daprd passes any name on, and an event nobody waits for does nothing: an operator who typed "relase" would
                // believe the shadows released, and the audit would say so.
                return (null, ControlResult.BadRequest("name", $"'{name}' is not an event a shadow lifecycle waits for; raise release, extend or resize."));
        }
    }

    private static (ShadowResources? Value, ControlResult? Problem) Resources(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return (null, ControlResult.BadRequest("resources", "must be an object such as {\"size\": 2, \"addedLatencyMs\": 0, \"errorRate\": 0}."));
        }

        if (Unknown(value, "size", "addedLatencyMs", "errorRate") is { } unknown)
        {
            return (null, ControlResult.BadRequest($"resources.{unknown}", $"unknown field '{unknown}'; known: size, addedLatencyMs, errorRate."));
        }

        // All three: a resize restarts every held shadow with exactly these, so a field left out would silently reset
        // what remediation or an earlier resize set (a grown shadow back to size 1).
        if (new[] { "size", "addedLatencyMs", "errorRate" }.FirstOrDefault(f => !value.TryGetProperty(f, out _)) is { } missing)
        {
            return (null, ControlResult.BadRequest($"resources.{missing}", "is required: a resize gives every held shadow all three of size, addedLatencyMs and errorRate."));
        }

        var resources = new ShadowResources();
        if (value.TryGetProperty("size", out var size))
        {
            if (size.ValueKind != JsonValueKind.Number || !size.TryGetInt32(out var n) || n < 1 || n > MaxManualCount)
            {
                return (null, ControlResult.BadRequest("resources.size", $"must be a whole number from 1 to {MaxManualCount}."));
            }

            resources = resources with { Size = n };
        }

        if (value.TryGetProperty("addedLatencyMs", out var latency))
        {
            if (latency.ValueKind != JsonValueKind.Number || !latency.TryGetDouble(out var ms) || !double.IsFinite(ms) || ms < 0 || ms > 60_000)
            {
                return (null, ControlResult.BadRequest("resources.addedLatencyMs", "must be a number of milliseconds from 0 to 60000."));
            }

            resources = resources with { AddedLatencyMs = ms };
        }

        if (value.TryGetProperty("errorRate", out var errors))
        {
            if (errors.ValueKind != JsonValueKind.Number || !errors.TryGetDouble(out var rate) || !double.IsFinite(rate) || rate < 0 || rate > 1)
            {
                return (null, ControlResult.BadRequest("resources.errorRate", "must be a share from 0 to 1."));
            }

            resources = resources with { ErrorRate = rate };
        }

        return (resources, null);
    }

    private static string? Unknown(JsonElement value, params string[] known) =>
        value.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !known.Contains(n, StringComparer.Ordinal));

    private static bool TryTime(JsonElement value, out DateTimeOffset time)
    {
        time = default;
        return value.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }
}
