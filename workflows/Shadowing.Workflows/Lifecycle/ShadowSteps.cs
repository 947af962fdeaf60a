using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>One shadow of a request, as the activities receive it.</summary>
/// <param name="Service">The service it copies.</param>
/// <param name="ShadowId">Its id in the routing table.</param>
/// <param name="Owner">The workflow instance that runs it.</param>
/// <param name="Resources">What it runs with.</param>
public sealed record ShadowStep(string Service, string ShadowId, string Owner, ShadowResources Resources);

/// <summary>Input of EnableMirroring: the shadow and the share of traffic the service's policy must mirror at least.</summary>
public sealed record MirrorStep(string Service, string ShadowId, double Percent);

/// <summary>Input of CollectWarmupStats and ValidateShadow: the shadow and when its warm-up began.</summary>
public sealed record WarmupStep(string Service, string ShadowId, DateTimeOffset Since);

/// <summary>What warm-up has produced so far.</summary>
/// <param name="Samples">Mirrored answers of the shadow since <paramref name="CountedSince"/>.</param>
/// <param name="Errors">Of those, answers that failed (5xx or no answer).</param>
/// <param name="CountedSince">
/// When the count starts: warm-up's start, or the shadow's current process start when later (null in histories written
/// before it was recorded: warm-up's start), plus the outcome delay (the count stops that long before now, so the span
/// counted is now minus this).
/// </param>
public sealed record WarmupStats(int Samples, int Errors, DateTimeOffset? CountedSince = null);

/// <summary>A judgement as the workflow keeps it: the verdict and its first reasons.</summary>
public sealed record ShadowCheck(Verdict Verdict, IReadOnlyList<string> Reasons, DateTimeOffset JudgedAt);

/// <summary>Input of RetireShadow: the shadow, and the failure that retires it (null for a normal end).</summary>
public sealed record RetireStep(string Service, string ShadowId, string? Failure = null);

/// <summary>
/// External event <c>extend</c>: the window's new end, and from the intake its number on this instance
/// (<see cref="Shadowing.Core.Shadows.ShadowPlan.Extensions"/>); null when raised by hand.
/// </summary>
public sealed record ExtendEvent(DateTimeOffset WindowEnd, int? Number = null);

/// <summary>External event <c>resize</c>: a new number of shadows, new resources for all of them, or both.</summary>
public sealed record ResizeEvent(int? Count = null, ShadowResources? Resources = null);

/// <summary>External event <c>verdict</c>: a revalidation judged one of the instance's shadows.</summary>
public sealed record VerdictEvent(string ShadowId, ShadowCheck Check);

/// <summary>What the workflow reports while it runs (custom status) and per shadow in its outcome.</summary>
public sealed record ShadowProgress
{
    public required string ShadowId { get; init; }

    public required ShadowState State { get; init; }

    /// <summary>1 for the first run; one more for each remediation.</summary>
    public int Attempt { get; init; } = 1;

    public ShadowResources? Resources { get; init; }

    public string? Address { get; init; }

    /// <summary>What the provisioner left out of the copy or changed (see <see cref="ProvisionedShadow.Notes"/>).</summary>
    public IReadOnlyList<string>? Notes { get; init; }

    public ShadowCheck? LastVerdict { get; init; }

    /// <summary>When it last became PreWarmed (workflow time): verdicts judged earlier are ignored.</summary>
    public DateTimeOffset? ReadyAt { get; init; }
}

/// <summary>The workflow's custom status: its phase, window and each shadow's state, attempt and last verdict.</summary>
public sealed record ShadowLifecycleStatus
{
    public required string Phase { get; init; }

    public required DateTimeOffset WindowEnd { get; init; }

    public required IReadOnlyList<ShadowProgress> Shadows { get; init; }
}

/// <summary>How a request's shadows ended.</summary>
public sealed record ShadowOutcome
{
    public required string RequestId { get; init; }

    public required string Service { get; init; }

    /// <summary>Whether at least one shadow reached PreWarmed.</summary>
    public required bool Served { get; init; }

    /// <summary>Why it ended: the window closed, released (and by whom), or every shadow failed.</summary>
    public required string Reason { get; init; }

    public required IReadOnlyList<ShadowProgress> Shadows { get; init; }

    /// <summary>
    /// The window's end as the workflow last took it, extensions included (one an operator raised by hand too). Null from
    /// an older outcome.
    /// </summary>
    public DateTimeOffset? WindowEnd { get; init; }

    /// <summary>
    /// The end an <c>extend</c> asked for that arrived once the hold had ended (while the shadows drained), so never held
    /// for: the intake runs what the request still asks past <see cref="WindowEnd"/> as the next revision. Null when none.
    /// </summary>
    public DateTimeOffset? UnheldExtension { get; init; }

    /// <summary>
    /// The highest number of the intake's <c>extend</c> events the workflow received, held or not (0 when none). Fewer
    /// than the plan raised means the last ones came as it completed and were dropped. Null from an older outcome.
    /// </summary>
    public int? ExtensionsReceived { get; init; }
}

/// <summary>Names of the workflow, its activities and its external events, as registered and raised.</summary>
public static class ShadowLifecycleNames
{
    public const string Workflow = nameof(ShadowLifecycleWorkflow);

    public const string Release = "release";

    public const string Extend = "extend";

    public const string Resize = "resize";

    public const string Verdict = "verdict";

    /// <summary>Dapr's limit on workflow instance ids (letters, digits, '_' and '-').</summary>
    public const int MaxInstanceIdLength = 64;

    // "shadows-" + service + "-" + yyyyMMddTHHmmZ + "-r" + up to 4 digits: a service name this long fits as it is.
    private const int MaxVerbatimService = MaxInstanceIdLength - 8 - 15 - 6;
    private const int HashedServicePrefix = MaxVerbatimService - 9;

    /// <summary>
    /// The instance id of a request's <paramref name="revision"/>: <c>shadows-{service}-{window start}</c>, then
    /// <c>-r{revision}</c> from the second (a request that grew after its workflow ended runs again under a new id).
    /// One instance per request and revision, so a redelivered request finds its instance. A service name with a '.'
    /// (not allowed in instance ids) or too long to fit 64 characters is shortened and suffixed with a hash of the name.
    /// </summary>
    public static string InstanceId(ShadowRequest request, int revision = 1)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfLessThan(revision, 1);
        var service = request.Service;
        if (service.Length > MaxVerbatimService || service.Contains('.', StringComparison.Ordinal))
        {
            var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(service)))[..8].ToLowerInvariant();
            service = $"{service[..Math.Min(service.Length, HashedServicePrefix)].Replace('.', '_')}-{hash}";
        }

        var id = $"shadows-{service}-{request.WindowStart.UtcDateTime:yyyyMMdd'T'HHmm'Z'}";
        return revision == 1 ? id : $"{id}-r{revision.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
    }

    /// <summary>The revision an instance id names (see <see cref="InstanceId"/>): 1 unless it ends with <c>Z-r{n}</c>.</summary>
    public static int RevisionOf(string instanceId)
    {
        ArgumentNullException.ThrowIfNull(instanceId);
        var at = instanceId.LastIndexOf("Z-r", StringComparison.Ordinal);
        return at >= 0 && int.TryParse(instanceId.AsSpan(at + 3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var revision) && revision > 1
            ? revision
            : 1;
    }

    /// <summary>
    /// The id of the <paramref name="index"/>-th shadow (1-based) of a request's <paramref name="revision"/>:
    /// <c>s{window start}-{index}</c>, or <c>s{window start}r{revision}-{index}</c> from the second revision, so shadows
    /// the first revision left retired in the table keep their ids.
    /// </summary>
    public static string ShadowId(ShadowRequest request, int index, int revision = 1)
    {
        ArgumentNullException.ThrowIfNull(request);
        var window = request.WindowStart.UtcDateTime.ToString("yyyyMMdd'T'HHmm", System.Globalization.CultureInfo.InvariantCulture).ToLowerInvariant();
        return revision == 1
            ? $"s{window}-{index}"
            : $"s{window}r{revision.ToString(System.Globalization.CultureInfo.InvariantCulture)}-{index}";
    }
}
