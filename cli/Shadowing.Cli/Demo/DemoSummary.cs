using System.Globalization;
using System.Text.Json.Serialization;
using Shadowing.Core.Shadows;

namespace Shadowing.Cli.Demo;

/// <summary>What the demo showed; <c>--json</c> prints it as one object.</summary>
internal sealed record DemoSummary
{
    public required string Trace { get; init; }

    public required double Speed { get; init; }

    public required DateTimeOffset SimulatedFrom { get; init; }

    public required DateTimeOffset SimulatedTo { get; init; }

    /// <summary>When Ctrl+C stopped the run (simulated time), if it did: the summary covers the run until then.</summary>
    public DateTimeOffset? StoppedAt { get; init; }

    /// <summary>Real seconds the live window took.</summary>
    public required double RealSeconds { get; init; }

    public required long Requests { get; init; }

    public required long FailedRequests { get; init; }

    public string? FirstFailure { get; init; }

    /// <summary>First step whose demand exceeds production capacity (simulated), or null if none does.</summary>
    public DateTimeOffset? SpikeOnset { get; init; }

    /// <summary>When the first shadow became PreWarmed (simulated), or null.</summary>
    public DateTimeOffset? PreWarmedAt { get; init; }

    /// <summary>When the PAE's first forecast was made (simulated): nothing can be requested before it.</summary>
    public DateTimeOffset? FirstForecastAt { get; init; }

    /// <summary>Simulated seconds from PreWarmed to the spike's onset; negative when the shadow was late.</summary>
    public double? ShadowLeadSeconds { get; init; }

    /// <summary>When production's processes were killed (simulated), or null.</summary>
    public DateTimeOffset? FailureAt { get; init; }

    /// <summary>When production came back (simulated), or null.</summary>
    public DateTimeOffset? RecoveredAt { get; init; }

    /// <summary>Real milliseconds from the kill to the first answer from a shadow, or null.</summary>
    public double? FailoverMs { get; init; }

    /// <summary>The first shadow request the PAE stored: who asked, when and why, and what it had grown to at the end.</summary>
    public DemoRequest? ShadowRequest { get; init; }

    /// <summary>The latest PVU verdict on each shadow.</summary>
    public required IReadOnlyDictionary<string, string> Verdicts { get; init; }

    /// <summary>Warnings and errors the stack logged (all in demo.log).</summary>
    public required int Warnings { get; init; }

    public required string ReportDir { get; init; }

    /// <summary>No request failed, and a shadow was PreWarmed before the spike, if the run reached one.</summary>
    [JsonIgnore]
    public bool Succeeded => FailedRequests == 0 && (SpikeOnset is not { } onset || ShadowLeadSeconds >= 0 || (StoppedAt is { } stopped && stopped < onset));

    /// <summary>
    /// When the PAE forecast first, when it first asked for a shadow and when one was ready, for a run whose shadow was late
    /// (empty when there was no spike): what a reader needs to see whether the window left the forecast time to see the
    /// campaign coming and a shadow time to get ready.
    /// </summary>
    internal string WhyLate()
    {
        if (SpikeOnset is not { } onset)
        {
            return string.Empty;
        }

        string Clock(DateTimeOffset? t) => t is { } time ? ClockOn(time, onset) : "-";
        var asked = ShadowRequest is { } r
            ? string.Create(CultureInfo.InvariantCulture, $"the PAE asked for a shadow at {Clock(r.CreatedAt)}, {Math.Abs((onset - r.CreatedAt).TotalMinutes):F0} simulated minutes {(r.CreatedAt <= onset ? "before" : "after")} it")
            : "the PAE asked for no shadow";
        var forecast = FirstForecastAt is null ? "it made no forecast" : $"its first forecast came at {Clock(FirstForecastAt)}";
        var ready = PreWarmedAt is null ? "no shadow was PreWarmed" : $"the first shadow was PreWarmed at {Clock(PreWarmedAt)}";
        return string.Create(CultureInfo.InvariantCulture, $" ({asked}; {forecast}; {ready}. Starting, warming up and validating a shadow takes real seconds, many simulated minutes at {Speed}×: a longer --duration or a lower --speed leaves more time)");
    }

    /// <summary>When and how the request was first asked for, and what it grew to when the PAE merged later forecasts in.</summary>
    internal static string Requested(DemoRequest r)
    {
        static string Time(DateTimeOffset t) => t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        string Clock(DateTimeOffset t) => ClockOn(t, r.CreatedAt);
        var first = $"{Time(r.CreatedAt)} by the PAE ({string.Join(", ", r.Kinds)}): {r.FirstCount} shadow(s) for {Clock(r.WindowStart)}–{Clock(r.FirstWindowEnd)}";
        return r.Count == r.FirstCount && r.WindowEnd == r.FirstWindowEnd
            ? first
            : $"{first}; by {Clock(r.UpdatedAt)} {r.Count} shadow(s) for {Clock(r.WindowStart)}–{Clock(r.WindowEnd)}";
    }

    /// <summary>The time of day, with the date when it falls on another day than <paramref name="day"/> (a run can cross midnight).</summary>
    internal static string ClockOn(DateTimeOffset time, DateTimeOffset day) =>
        time.ToString(time.UtcDateTime.Date == day.UtcDateTime.Date ? "HH:mm" : "MM-dd HH:mm", CultureInfo.InvariantCulture);

    /// <summary>The summary as name/value lines for the console and the HTML page.</summary>
    public IEnumerable<(string Name, string Value)> Lines()
    {
        static string Time(DateTimeOffset? t) => t?.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) ?? "–";
        if (StoppedAt is { } stopped)
        {
            yield return ("stopped", $"at {Time(stopped)} by Ctrl+C, before the end of the trace at {Time(SimulatedTo)}: the run so far");
        }

        yield return ("requests", Requests.ToString("N0", CultureInfo.InvariantCulture));
        yield return ("failed requests", FailedRequests.ToString("N0", CultureInfo.InvariantCulture) + (FirstFailure is null ? string.Empty : $" (first: {FirstFailure})"));
        yield return ("shadow requested", ShadowRequest is { } r ? Requested(r) : "none");
        yield return ("first forecast", Time(FirstForecastAt));
        yield return ("first shadow PreWarmed", Time(PreWarmedAt));
        yield return ("spike onset", SpikeOnset is null ? "none (demand never exceeded production capacity)" : Time(SpikeOnset));
        yield return ("shadow lead time", ShadowLeadSeconds is { } lead ? string.Create(CultureInfo.InvariantCulture, $"{lead / 60:F0} simulated minutes {(lead >= 0 ? "before" : "after")} the spike") : "–");
        yield return ("production killed", Time(FailureAt));
        yield return ("failover", FailoverMs is { } ms ? string.Create(CultureInfo.InvariantCulture, $"{ms:F0} ms (real) to the first answer from a shadow") : "–");
        yield return ("production back", Time(RecoveredAt));
        yield return ("verdicts", Verdicts.Count == 0 ? "none" : string.Join(", ", Verdicts.Select(v => $"{v.Key}: {v.Value}")));
        yield return ("warnings logged", Warnings.ToString(CultureInfo.InvariantCulture));
        yield return ("report", Path.Combine(ReportDir, "index.html"));
    }
}

/// <summary>
/// The PAE's shadow request, as the summary shows it: as first asked (<see cref="FirstCount"/> shadows until
/// <see cref="FirstWindowEnd"/>, for <see cref="Reason"/>) and as it was at the end of the run, after the PAE merged later
/// forecasts into it (<see cref="Count"/>, <see cref="WindowEnd"/>, last changed at <see cref="UpdatedAt"/>).
/// </summary>
internal sealed record DemoRequest(
    string Id,
    DateTimeOffset CreatedAt,
    int FirstCount,
    DateTimeOffset FirstWindowEnd,
    DateTimeOffset UpdatedAt,
    int Count,
    DateTimeOffset WindowStart,
    DateTimeOffset WindowEnd,
    IReadOnlyList<string> Kinds,
    string Reason)
{
    /// <summary>From the first version seen of a request and the request at the end of the run.</summary>
    public static DemoRequest From(ShadowRequest first, ShadowRequest last) => new(
        last.Id, last.CreatedAt, first.Count, first.WindowEnd, last.UpdatedAt, last.Count, last.WindowStart, last.WindowEnd, [.. last.Kinds.Select(k => k.ToString())], first.Reason);
}
