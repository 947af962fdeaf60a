using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.State;

namespace Shadowing.Core.Validation;

/// <summary>
/// PVU's port, what the shadow workflow calls: judges one shadow over a window from the outcomes and per-minute records
/// in the state store, stores the verdict at <c>verdicts/{service}/{shadow}</c>, and alerts on <c>alerts</c> when it
/// fails.
/// </summary>
public sealed class ShadowValidator(IStateStore store, IEventBus bus, TimeProvider time)
{
    /// <summary>The meter of <c>shadowing.validation.verdicts</c> (exported by a host that adds it, such as the router's <c>/metrics</c> in <c>up</c>).</summary>
    public const string MeterName = "Shadowing.Validation";

    private static readonly System.Diagnostics.Metrics.Meter Meter = new(MeterName);

    // By service and verdict, not shadow: shadow ids come and go, and each would stay a series for the process's life.
    private static readonly System.Diagnostics.Metrics.Counter<long> Verdicts = Meter.CreateCounter<long>(
        "shadowing.validation.verdicts", "{verdict}", "Verdicts stored on shadows, by service and verdict (Pass, Fail, Inconclusive).");

    private readonly RoutingTableStore _tables = new(store, bus);

    /// <summary>Judges <paramref name="shadow"/> over the last <paramref name="window"/>.</summary>
    /// <param name="service">The service.</param>
    /// <param name="shadow">The shadow.</param>
    /// <param name="window">How far back outcomes count.</param>
    /// <param name="storeInconclusive">
    /// Whether an Inconclusive verdict replaces the stored one; continuous validation says no, so a quiet minute does not
    /// overwrite the Pass that promotion needs.
    /// </param>
    /// <param name="settled">Whether the window ends <see cref="OutcomeDelay"/> ago rather than now (see <see cref="JudgeAsync"/>).</param>
    /// <param name="cancellationToken">Cancels the judgement.</param>
    /// <exception cref="KeyNotFoundException">The service has no routing table, or the table no such shadow.</exception>
    public async Task<ShadowVerdict> ValidateAsync(string service, string shadow, TimeSpan window, bool storeInconclusive = true, bool settled = false, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        var to = time.GetUtcNow();
        var verdict = await JudgeAsync(service, shadow, to - window, to, settled, cancellationToken).ConfigureAwait(false);
        await RecordAsync(verdict, storeInconclusive, cancellationToken: cancellationToken).ConfigureAwait(false);
        return verdict;
    }

    /// <summary>
    /// Judges <paramref name="shadow"/> on the copies sent between <paramref name="from"/> and <paramref name="to"/>; stores
    /// and alerts nothing. With <paramref name="settled"/>, a window ending less than <see cref="OutcomeDelay"/> ago ends
    /// then instead (the verdict's <c>To</c> says so): the outcomes of the copies sent since are not all stored yet, and
    /// the missing ones are the slow and the unanswered, so judging them would flatter the shadow. That matters for the
    /// short windows of a warm-up; continuous validation's windows (minutes) end now, a few seconds' bias in them.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The service has no routing table, or the table no such shadow.</exception>
    public async Task<ShadowVerdict> JudgeAsync(string service, string shadow, DateTimeOffset from, DateTimeOffset to, bool settled = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        ArgumentException.ThrowIfNullOrWhiteSpace(shadow);
        var table = (await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false))?.Value
            ?? throw new KeyNotFoundException($"Service '{service}' has no routing table.");
        if (table.Shadows.All(s => s.Id != shadow))
        {
            throw new KeyNotFoundException($"Service '{service}' has no shadow '{shadow}'.");
        }

        if (settled)
        {
            (from, to) = Settled(table, from, to);
        }

        var outcomes = new List<MirrorOutcome>();
        var lag = SendLag(table);
        outcomes.AddRange(await ReadAsync(service, shadow, from, to, lag, cancellationToken).ConfigureAwait(false));
        outcomes.AddRange(await ReadAsync(service, OutcomeSlot.NoiseEndpoint, from, to, lag, cancellationToken).ConfigureAwait(false));
        var minutes = await MinutesAsync(service, shadow, from, to, cancellationToken).ConfigureAwait(false);
        return ShadowJudge.Judge(service, shadow, outcomes, minutes, table.Validation ?? new ValidationSettings(), table.Mirror?.IgnoreFields ?? [], from, to, time.GetUtcNow());
    }

    /// <summary>
    /// Stores <paramref name="verdict"/> as the shadow's latest (an Inconclusive one only if <paramref name="storeInconclusive"/>)
    /// and, when <paramref name="alert"/>, alerts a Fail on <see cref="Topics.Alerts"/> (through the <see cref="AlertOutbox"/>).
    /// </summary>
    public async Task RecordAsync(ShadowVerdict verdict, bool storeInconclusive = true, bool alert = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        if (verdict.Verdict == Verdict.Fail && alert)
        {
            // Before the verdict is stored: a Fail stored (as noticed) whose alert then failed would be lost, since an Active
            // shadow's later Fails are not alerted while it stays failing. This way round a failure in between alerts twice.
            // Kept for a later flush if the bus is down: a pub/sub outage must not turn a verdict into a failed step.
            await new AlertOutbox(store, bus).PublishAsync(
                new Alert
                {
                    Kind = AlertKind.ValidationFailed,
                    Service = verdict.Service,
                    Endpoint = verdict.Shadow,
                    Verdict = verdict.Verdict,
                    Reasons = verdict.Reasons.Take(4).ToArray(),
                    Status = StateKeys.Verdict(verdict.Service, verdict.Shadow),
                    At = verdict.To,
                },
                cancellationToken).ConfigureAwait(false);
        }

        if (storeInconclusive || verdict.Verdict != Verdict.Inconclusive)
        {
            await store.SaveJsonAsync(StateKeys.Verdict(verdict.Service, verdict.Shadow), verdict, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (alert || verdict.Verdict != Verdict.Fail)
            {
                // A Fail not acted on is not counted either: the Fail rule on this counter says the shadow left routing.
                Verdicts.Add(1, new KeyValuePair<string, object?>("service", verdict.Service), new KeyValuePair<string, object?>("verdict", verdict.Verdict.ToString()));
            }
        }
    }

    /// <summary>The latest stored verdict on <paramref name="shadow"/>, if any.</summary>
    public async Task<ShadowVerdict?> LatestAsync(string service, string shadow, CancellationToken cancellationToken = default) =>
        (await store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict(service, shadow), cancellationToken).ConfigureAwait(false))?.Value;

    /// <summary>
    /// The stored outcomes of the copies sent to <paramref name="endpoint"/> between <paramref name="from"/> and
    /// <paramref name="to"/>, allowing for the service's pub/sub time shift (see <see cref="SendLag"/>). Direct copies,
    /// and any of a service without a routing table, are chosen by when production received the original.
    /// </summary>
    public async Task<IReadOnlyList<MirrorOutcome>> SentAsync(string service, string endpoint, DateTimeOffset from, DateTimeOffset to, bool settled = false, CancellationToken cancellationToken = default)
    {
        var table = (await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false))?.Value;
        if (settled && table is not null)
        {
            (from, to) = Settled(table, from, to); // as JudgeAsync reads them: a warm-up counts what its validation will judge
        }

        return await ReadAsync(service, endpoint, from, to, table is null ? TimeSpan.Zero : SendLag(table), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// How long after a copy is sent its outcome may still be on its way to the store: the mirror policy's timeout (a copy
    /// that is never answered is known only then) and a few seconds for the router's flush of its outcomes (every 2 s).
    /// </summary>
    public static TimeSpan OutcomeDelay(RoutingTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return (table.Mirror?.Timeout ?? new MirrorPolicy().Timeout) + OutcomeFlushAllowance;
    }

    /// <summary><see cref="OutcomeDelay(RoutingTable)"/> of the service's stored table (none without one).</summary>
    public async Task<TimeSpan> OutcomeDelayAsync(string service, CancellationToken cancellationToken = default) =>
        (await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false))?.Value is { } table ? OutcomeDelay(table) : TimeSpan.Zero;

    private static readonly TimeSpan OutcomeFlushAllowance = TimeSpan.FromSeconds(3);

    /// <summary>The window cut to end no later than <see cref="OutcomeDelay"/> ago (empty, at that end, if it starts later).</summary>
    private (DateTimeOffset From, DateTimeOffset To) Settled(RoutingTable table, DateTimeOffset from, DateTimeOffset to)
    {
        var settled = time.GetUtcNow() - OutcomeDelay(table);
        return to <= settled ? (from, to) : (from < settled ? from : settled, settled);
    }

    /// <summary>
    /// The stored outcomes of mirrored requests to <paramref name="endpoint"/> in a window: with <paramref name="lag"/>
    /// zero, those received between <paramref name="from"/> and <paramref name="to"/>; otherwise those whose copy was
    /// sent in it, looked for among the requests received up to <paramref name="lag"/> before it.
    /// </summary>
    /// <remarks>
    /// Lists each hour of the window and reads the slots it holds in the window: the cost follows the window and the
    /// traffic in it, not the endpoint's age, and an hour without outcomes costs one listing, not 900 reads.
    /// </remarks>
    private async Task<IReadOnlyList<MirrorOutcome>> ReadAsync(string service, string endpoint, DateTimeOffset from, DateTimeOffset to, TimeSpan lag, CancellationToken cancellationToken)
    {
        var outcomes = new List<MirrorOutcome>();
        var inWindow = lag <= TimeSpan.Zero
            ? (Func<MirrorOutcome, bool>)(o => o.ReceivedAt >= from && o.ReceivedAt <= to)
            : o => (o.SentAt ?? o.ReceivedAt) is var sent && sent >= from && sent <= to;
        var earliest = lag > TimeSpan.Zero ? from - lag : from;
        var first = StateKeys.Outcomes(service, endpoint, OutcomeSlot.StartOf(earliest));
        var last = StateKeys.Outcomes(service, endpoint, OutcomeSlot.StartOf(to));
        for (var hour = OutcomeSlot.HourOf(earliest); hour <= to; hour = hour.AddHours(1))
        {
            foreach (var key in await store.ListKeysAsync(StateKeys.OutcomesOf(service, endpoint, hour), cancellationToken).ConfigureAwait(false))
            {
                if (string.CompareOrdinal(key, first) < 0 || string.CompareOrdinal(key, last) > 0)
                {
                    continue; // keys sort by time within an hour
                }

                if (await store.GetJsonAsync<OutcomeSlot>(key, cancellationToken).ConfigureAwait(false) is { } slot)
                {
                    outcomes.AddRange(slot.Value.Outcomes.Where(inWindow));
                }
            }
        }

        return outcomes;
    }

    /// <summary>
    /// How long after production received a request its copy may be sent: with the pub/sub transport, up to the
    /// envelope's time to live (the copy waits <c>timeShift</c>, then for its rate), so a window of copies sent is found
    /// among requests received that much earlier (outcomes are kept by when the original was received). Zero for the direct
    /// transport, whose copies follow production's answer at once.
    /// </summary>
    private static TimeSpan SendLag(RoutingTable table) =>
        table.Mirror is { Transport: MirrorTransport.PubSub } mirror ? mirror.TimeToLive : TimeSpan.Zero;

    private async Task<IReadOnlyList<EndpointMinuteRecord>> MinutesAsync(string service, string shadow, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var minutes = new List<EndpointMinuteRecord>();
        var keys = new List<string>();
        for (var hour = OutcomeSlot.HourOf(from); hour <= to; hour = hour.AddHours(1))
        {
            keys.Add(StateKeys.Metrics(service, shadow, hour));
        }

        for (var day = DateOnly.FromDateTime(from.UtcDateTime); day <= DateOnly.FromDateTime(to.UtcDateTime); day = day.AddDays(1))
        {
            // The layouts before too: a shadow validated across an upgrade has records in several.
            keys.Add(StateKeys.WholeDayMetrics(service, shadow, day));
            keys.Add(StateKeys.LegacyMetrics(service, shadow, day));
        }

        foreach (var key in keys)
        {
            if (await store.GetJsonAsync<EndpointMetricsDay>(key, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                // Whole minutes from the start only: the minute it started in holds copies before it (a process that was
                // restarted by remediation, answering badly), which are not this shadow's to be judged on.
                minutes.AddRange(entry.Value.Minutes.Where(m => m.Minute >= from && m.Minute <= to));
            }
        }

        // A minute recorded in two layouts (replicas of two versions) is one minute to the judge.
        return [.. minutes.GroupBy(m => m.Minute).Select(g => g.Aggregate((a, b) => a.Merge(b)))];
    }
}
