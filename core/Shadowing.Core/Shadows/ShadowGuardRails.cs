using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace Shadowing.Core.Shadows;

/// <summary>
/// Limits on what the provisioning workflow may create (section <c>Shadowing:Sep:GuardRails</c>): a platform team sets
/// these before letting software start endpoints.
/// </summary>
public sealed class ShadowGuardRails
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Sep:GuardRails";

    /// <summary>Most shadows of one service that are not retired. Default 4.</summary>
    [Range(0, 1000)]
    public int MaxShadowsPerService { get; set; } = 4;

    /// <summary>Most shadows, over all services, that are not retired. Default 16.</summary>
    [Range(0, 10000)]
    public int MaxShadowsTotal { get; set; } = 16;

    /// <summary>
    /// Endpoint-hours per UTC day (shadows × hours of their windows, charged to the day the window starts). A request
    /// that would exceed it is refused. Default 96.
    /// </summary>
    [Range(0, 1_000_000)]
    public double EndpointHoursPerDay { get; set; } = 96;

    /// <summary>Plan and record requests, provision nothing. Default false.</summary>
    public bool DryRun { get; set; }

    /// <summary>
    /// No new shadows, and running ones are retired, while set here or while the kill switch is engaged in the store
    /// (<c>shadowing kill-switch on</c>). Default false.
    /// </summary>
    public bool KillSwitch { get; set; }
}

/// <summary>What became of a shadow request.</summary>
public enum ShadowPlanDecision
{
    /// <summary>A workflow runs it.</summary>
    Admitted,

    /// <summary>Dry-run mode: planned and recorded, nothing provisioned.</summary>
    DryRun,

    /// <summary>A guard rail refused it; <see cref="ShadowPlan.Reason"/> says which.</summary>
    Refused,
}

/// <summary>
/// The decision on one shadow request, stored at <c>sep/plans/{service}/{window start}</c> so refusals and dry runs are
/// visible (<c>shadowing sep plans</c>, the Functions app's status API).
/// </summary>
public sealed record ShadowPlan
{
    public required string RequestId { get; init; }

    public required string Service { get; init; }

    /// <summary>Shadows admitted (or that would have been, in a dry run).</summary>
    public required int Count { get; init; }

    public required DateTimeOffset WindowStart { get; init; }

    public required DateTimeOffset WindowEnd { get; init; }

    public required ShadowPlanDecision Decision { get; init; }

    /// <summary>Why, with the numbers: the request's reason when admitted, the guard rail when refused.</summary>
    public required string Reason { get; init; }

    /// <summary>Endpoint-hours charged to the budget (0 when refused or dry run).</summary>
    public required double EndpointHours { get; init; }

    /// <summary>The workflow instance running it, when admitted.</summary>
    public string? InstanceId { get; init; }

    /// <summary>
    /// 1, then one more each time the request grew after its workflow had ended and was admitted again under a new
    /// instance id.
    /// </summary>
    public int Revision { get; init; } = 1;

    /// <summary>
    /// How many <c>extend</c> events the intake raised on <see cref="InstanceId"/>, each numbered: one the workflow never
    /// got (raised as it completed) shows as a number its outcome did not receive.
    /// </summary>
    public int Extensions { get; init; }

    /// <summary>When the kill switch released its workflow (released once, not at every tick).</summary>
    public DateTimeOffset? ReleasedAt { get; init; }

    /// <summary>
    /// The count an operator set by hand on its workflow (a <c>resize</c> raised on the instance), which runs instead of
    /// <see cref="Count"/>: the caps count it and <see cref="EndpointHours"/> charges it. Null when none was set.
    /// <see cref="Count"/> stays what the intake admitted, which is what a later revision is measured against.
    /// </summary>
    public int? ManualCount { get; init; }

    /// <summary>
    /// The end an operator set by hand (an <c>extend</c> raised on the instance), charged instead of
    /// <see cref="WindowEnd"/>, which stays the intake's own. Null when none was set.
    /// </summary>
    public DateTimeOffset? ManualEnd { get; init; }

    /// <summary>
    /// When the intake first found its workflow ended: an instance missing after that was purged (a retention), one
    /// missing before it was lost with the workflow store, and is scheduled again.
    /// </summary>
    public DateTimeOffset? InstanceEndedAt { get; init; }

    public required DateTimeOffset DecidedAt { get; init; }
}

/// <summary>Endpoint-hours charged on one UTC day, at <c>sep/budget/{yyyy-MM-dd}</c>.</summary>
public sealed record ShadowBudgetDay
{
    public required DateOnly Day { get; init; }

    public required double EndpointHours { get; init; }

    /// <summary>Hours charged per request id, so a redelivered request is not charged twice.</summary>
    public IReadOnlyDictionary<string, double> Requests { get; init; } = new Dictionary<string, double>();
}

/// <summary>The guard rails applied to one request (no I/O): how many shadows may start, or why none may.</summary>
public static class ShadowAdmission
{
    /// <summary>
    /// What a running window costs once changed, from what it was charged (<paramref name="hours"/>, for
    /// <paramref name="count"/> shadows until <paramref name="end"/>): the shadows it had for the moved end, and shadows
    /// added or removed (<paramref name="newCount"/>) from <paramref name="changedAt"/> (they start or stop then, not at the
    /// window's start) until the new end. Never below zero.
    /// </summary>
    public static double Recharged(double hours, int count, DateTimeOffset end, int newCount, DateTimeOffset newEnd, DateTimeOffset changedAt) =>
        Math.Max(0, hours + (count * (newEnd - end).TotalHours) + ((newCount - count) * Math.Max(0, (newEnd - changedAt).TotalHours)));

    /// <summary>Endpoint-hours a request for <paramref name="count"/> shadows over its window costs.</summary>
    public static double EndpointHours(ShadowRequest request, int count)
    {
        ArgumentNullException.ThrowIfNull(request);
        return count * Math.Max(0, (request.WindowEnd - request.WindowStart).TotalHours);
    }

    /// <summary>
    /// Decides <paramref name="request"/>: refused with the guard rail's numbers when the kill switch is engaged, the caps
    /// leave room for no shadow or the day's budget would be exceeded; a dry run when configured; else admitted, for as
    /// many of the requested shadows as the caps leave room for (a cap limits a spike's shadows; it does not take them all away).
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="rails">The guard rails.</param>
    /// <param name="killSwitch">Whether the kill switch is engaged (configuration or store).</param>
    /// <param name="runningInService">Shadows of the request's service that are not retired, not counting this request's own.</param>
    /// <param name="runningTotal">Shadows over all services that are not retired, not counting this request's own.</param>
    /// <param name="hoursCharged">Endpoint-hours already charged on the window's day, not counting this request's own.</param>
    /// <param name="now">The decision time.</param>
    public static ShadowPlan Decide(ShadowRequest request, ShadowGuardRails rails, bool killSwitch, int runningInService, int runningTotal, double hoursCharged, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(rails);
        var capped = CapRefusal(request.Service, request.Count, rails, killSwitch, runningInService, runningTotal);
        var fit = Fitting(request.Count, rails, killSwitch, runningInService, runningTotal);
        var count = fit > 0 ? fit : request.Count;
        var hours = EndpointHours(request, count);
        var refusal = fit == 0 ? capped : BudgetRefusal(hours, DateOnly.FromDateTime(request.WindowStart.UtcDateTime), hoursCharged, rails.EndpointHoursPerDay);
        var decision = refusal is not null ? ShadowPlanDecision.Refused : rails.DryRun ? ShadowPlanDecision.DryRun : ShadowPlanDecision.Admitted;
        var reason = capped is not null && fit > 0 ? Invariant($"{request.Reason} (capped at {fit} of {request.Count} shadow(s): {capped})") : request.Reason;
        return new ShadowPlan
        {
            RequestId = request.Id,
            Service = request.Service,
            Count = count,
            WindowStart = request.WindowStart,
            WindowEnd = request.WindowEnd,
            Decision = decision,
            Reason = refusal is not null ? "Refused: " + refusal
                : decision == ShadowPlanDecision.DryRun ? Invariant($"Dry run ({ShadowGuardRails.Section}:DryRun): would start {count} shadow(s) for {hours:0.##} endpoint-hours. {reason}")
                : reason,
            EndpointHours = decision == ShadowPlanDecision.Admitted ? hours : 0,
            DecidedAt = now,
        };
    }

    /// <summary>Why <paramref name="count"/> more shadows of <paramref name="service"/> may not start (kill switch or a cap), or null.</summary>
    public static string? CapRefusal(string service, int count, ShadowGuardRails rails, bool killSwitch, int runningInService, int runningTotal)
    {
        ArgumentNullException.ThrowIfNull(rails);
        return killSwitch ? "the kill switch is engaged"
            : runningInService + count > rails.MaxShadowsPerService
                ? Invariant($"{count} more shadow(s) of '{service}' would make {runningInService + count}, over the cap of {rails.MaxShadowsPerService} per service ({ShadowGuardRails.Section}:MaxShadowsPerService)")
            : runningTotal + count > rails.MaxShadowsTotal
                ? Invariant($"{count} more shadow(s) would make {runningTotal + count} in total, over the cap of {rails.MaxShadowsTotal} ({ShadowGuardRails.Section}:MaxShadowsTotal)")
            : null;
    }

    /// <summary>How many of <paramref name="count"/> more shadows of a service the caps leave room for: none while the kill switch is engaged.</summary>
    public static int Fitting(int count, ShadowGuardRails rails, bool killSwitch, int runningInService, int runningTotal)
    {
        ArgumentNullException.ThrowIfNull(rails);
        return killSwitch ? 0 : Math.Clamp(Math.Min(rails.MaxShadowsPerService - runningInService, rails.MaxShadowsTotal - runningTotal), 0, Math.Max(0, count));
    }

    /// <summary>Why charging <paramref name="hours"/> to <paramref name="day"/> on top of <paramref name="charged"/> passes <paramref name="limit"/>, or null.</summary>
    public static string? BudgetRefusal(double hours, DateOnly day, double charged, double limit) =>
        charged + hours > limit
            ? Invariant($"{hours:0.##} endpoint-hours on {day:yyyy-MM-dd} would make {charged + hours:0.##}, over the budget of {limit:0.##} per day ({ShadowGuardRails.Section}:EndpointHoursPerDay)")
            : null;

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// An <c>extend</c>, <c>resize</c> or <c>release</c> an operator raised by hand on a running lifecycle (stored at
/// <c>sep/overrides/{instanceId}</c>): the intake then leaves that workflow's window and count alone, so the next
/// forecast merged into its request does not undo the override, and records what the operator set in the plan
/// (<see cref="ShadowPlan.ManualCount"/>, <see cref="ShadowPlan.ManualEnd"/>) and the day's budget, so the caps and the
/// budget count the shadows that run.
/// </summary>
/// <param name="Event">The event raised last.</param>
/// <param name="By">Who raised it, as the audit log has it.</param>
/// <param name="At">When.</param>
public sealed record ShadowOverride(string Event, string By, DateTimeOffset At)
{
    /// <summary>The count the latest hand-raised <c>resize</c> set; null when none set one (or from an older mark).</summary>
    public int? Count { get; init; }

    /// <summary>The end the latest hand-raised <c>extend</c> set; null when none did (or from an older mark).</summary>
    public DateTimeOffset? WindowEnd { get; init; }

    /// <summary>
    /// When an operator released the workflow by hand (through the control API); null when none did. Its request is closed
    /// then: no later request (a forecast, an operator's) merges into it, so each runs on its own rather than into a workflow
    /// that has ended, and the released revision is charged only up to then and never run again.
    /// </summary>
    public DateTimeOffset? ReleasedAt { get; init; }
}
