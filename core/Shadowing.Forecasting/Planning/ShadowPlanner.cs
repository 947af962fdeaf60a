using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Shadowing.Core.Shadows;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Models;

namespace Shadowing.Forecasting.Planning;

/// <summary>Settings of the shadow decision (section <c>Pae:Planner</c>).</summary>
public sealed class PlannerOptions
{
    /// <summary>Provisioning plus warm-up: how long before they are needed shadows must be requested. Default 15 min.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan LeadTime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Safety margin on forecast demand, as a share. Default 0.1 (10 %).</summary>
    [Range(0.0, 5.0)]
    public double Headroom { get; set; } = 0.1;

    /// <summary>
    /// Risk score at which shadows are requested even without a demand peak. Default 0.8. The risk alarm requests them
    /// too, at any score (it is raised by a score of 0.5 or more that persists, and clears below 0.2).
    /// </summary>
    [Range(0.0, 1.0)]
    public double RiskThreshold { get; set; } = 0.8;

    /// <summary>Shadows requested for risk. Default 1.</summary>
    [Range(1, 100)]
    public int RiskShadows { get; set; } = 1;

    /// <summary>
    /// Demand history needed before forecasts may request shadows (risk has its own warm-up). Default 1 day: with
    /// minutes of history the forecast is the last value and its p90 a guess.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan MinHistory { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long a risk-triggered request lasts. Default 1 h.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan RiskHold { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>What the planner saw and decided for one service.</summary>
/// <param name="Request">The request to submit, or null.</param>
/// <param name="NeededFrom">First time the p90 needs more than production, if any (also when it is still beyond the lead time).</param>
/// <param name="PeakShadows">Most shadows needed at any forecast step.</param>
public sealed record PlanDecision(ShadowRequest? Request, DateTimeOffset? NeededFrom, int PeakShadows);

/// <summary>
/// Decides when a service needs shadows. Demand: at each forecast step the p90 plus headroom is compared with
/// production capacity; the steps where it exceeds it need <c>ceil(excess / capacity per endpoint)</c> shadows.
/// If the first such step is within the lead time of the planner's next decision (<paramref name="decidesEvery"/> from
/// now), shadows are requested now for the window from that step to the last one: asked for at the next decision, they
/// would not be ready in time; further out, the decision waits for fresher forecasts. Risk: a current risk score at or above the threshold, or an active alarm, requests
/// <see cref="PlannerOptions.RiskShadows"/> for <see cref="PlannerOptions.RiskHold"/>. Both merge into one request.
/// Demand falls as well as rises: <see cref="ShortenedEnd"/> ends a demand window early when fresher forecasts no longer need it.
/// </summary>
/// <param name="options">The planner's settings.</param>
/// <param name="decidesEvery">How long until the planner decides again (the PAE's run interval); a decision may say its service is looked at less often.</param>
public sealed class ShadowPlanner(PlannerOptions options, TimeSpan decidesEvery)
{
    /// <summary>Decides for one service.</summary>
    /// <param name="service">The service.</param>
    /// <param name="forecast">Forecast steps, in time order, in requests per step.</param>
    /// <param name="step">The forecast step.</param>
    /// <param name="productionCapacity">Requests per step all production endpoints can serve.</param>
    /// <param name="endpointCapacity">Requests per step one more endpoint (a shadow) can serve.</param>
    /// <param name="risk">Current failure risk score and alarm.</param>
    /// <param name="now">Decision time.</param>
    /// <param name="nextDecisionIn">
    /// How long until this service is decided again, when that is longer than <c>decidesEvery</c> (a run that stops at its
    /// deadline leaves the rest of the services to the next run, and a run that outlasts its interval skips one).
    /// </param>
    public PlanDecision Decide(string service, IReadOnlyList<ForecastPoint> forecast, TimeSpan step, double productionCapacity, double endpointCapacity, (double Score, bool Alarm) risk, DateTimeOffset now, TimeSpan? nextDecisionIn = null)
    {
        ArgumentNullException.ThrowIfNull(forecast);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(endpointCapacity);
        var needing = forecast
            .Select(p => (Point: p, Shadows: (int)Math.Ceiling(((p.P90 * (1 + options.Headroom)) - productionCapacity) / endpointCapacity)))
            .Where(x => x.Shadows > 0)
            .ToArray();
        var neededFrom = needing.Length > 0 ? needing[0].Point.Time : (DateTimeOffset?)null;
        var peak = needing.Length > 0 ? needing.Max(x => x.Shadows) : 0;

        var kinds = new List<ShadowRequestKind>();
        var reasons = new List<string>();
        DateTimeOffset? start = null, end = null, riskUntil = null;
        var count = 0;
        if (neededFrom is { } from && from - now <= options.LeadTime + NextDecision(nextDecisionIn))
        {
            var worst = needing.MaxBy(x => x.Point.P90);
            kinds.Add(ShadowRequestKind.Demand);
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"demand: p90 {worst.Point.P90:F0} requests per {step:c} at {worst.Point.Time:u} (+{options.Headroom:P0} headroom) exceeds production capacity {productionCapacity:F0}"));
            start = from;
            end = needing[^1].Point.Time + step;

            // Never before the shadows could be ready and the next decision has looked again, as ShortenedEnd never cuts a
            // window to less: a need that ends sooner (a spike within the lead time, or a step the run read late) would
            // otherwise be charged and provisioned for shadows that retire before serving, or be refused as already over.
            var floor = now + options.LeadTime + NextDecision(nextDecisionIn);
            end = end > floor ? end : floor;
            count = peak;
        }

        if (risk.Alarm || risk.Score >= options.RiskThreshold)
        {
            kinds.Add(ShadowRequestKind.Risk);
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"failure risk {risk.Score:F2}{(risk.Alarm ? " (alarm)" : string.Empty)} at or above {options.RiskThreshold:F2}"));
            // Held from the end of the step the decision is in, so a run repeated seconds later (a catch-up, a restart) asks
            // for the same window and is not published and sent as an extension again; never shorter than RiskHold.
            var held = Quantize(now, step) + step + options.RiskHold;
            start = start is { } s && s < now ? s : now;
            end = end is { } e && e > held ? e : held;
            riskUntil = held;
            count = Math.Max(count, options.RiskShadows);
        }

        if (kinds.Count == 0)
        {
            return new PlanDecision(null, neededFrom, peak);
        }

        var windowStart = Quantize(start!.Value, step);
        var request = new ShadowRequest
        {
            Id = ShadowRequest.IdOf(service, windowStart),
            Service = service,
            Count = count,
            WindowStart = windowStart,
            WindowEnd = end!.Value,
            Kinds = kinds,
            Reason = string.Join("; ", reasons),
            CreatedAt = now,
            UpdatedAt = now,
            RiskUntil = riskUntil,
        };
        return new PlanDecision(request, neededFrom, peak);
    }

    /// <summary>
    /// The earlier end a fresher forecast supports for <paramref name="open"/>, or null to keep its end. Only a request
    /// demand asked for is shortened (an operator's request merged into it keeps the end asked for,
    /// <see cref="ShadowRequest.ManualUntil"/>, and a risk hold its own, <see cref="ShadowRequest.RiskUntil"/>), only when the forecast
    /// reaches its end (no guess about steps it does not cover), and never to less than one lead time past the next
    /// decision: a forecast that flips back within the time new shadows would need to get ready still finds these.
    /// </summary>
    /// <param name="open">A stored request whose window has not ended.</param>
    /// <param name="forecast">Forecast steps, in time order, in requests per step.</param>
    /// <param name="step">The forecast step.</param>
    /// <param name="productionCapacity">Requests per step all production endpoints can serve.</param>
    /// <param name="endpointCapacity">Requests per step one more endpoint (a shadow) can serve.</param>
    /// <param name="now">Decision time.</param>
    /// <param name="nextDecisionIn">As for <see cref="Decide"/>.</param>
    public DateTimeOffset? ShortenedEnd(ShadowRequest open, IReadOnlyList<ForecastPoint> forecast, TimeSpan step, double productionCapacity, double endpointCapacity, DateTimeOffset now, TimeSpan? nextDecisionIn = null)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(forecast);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(endpointCapacity);
        // A risk hold is kept to its own end (RiskUntil), an operator's window to the end asked for (ManualUntil); a request
        // stored without the one its kinds need keeps its window.
        var risk = open.Kinds.Contains(ShadowRequestKind.Risk);
        var manual = open.Kinds.Contains(ShadowRequestKind.Manual);
        if (open.Kinds.Any(k => k is not (ShadowRequestKind.Demand or ShadowRequestKind.Risk or ShadowRequestKind.Manual))
            || (risk && open.RiskUntil is null) || (manual && open.ManualUntil is null)
            || forecast.Count == 0 || forecast[^1].Time + step < open.WindowEnd)
        {
            return null;
        }

        var end = now + options.LeadTime + NextDecision(nextDecisionIn);
        if (risk && open.RiskUntil > end)
        {
            end = open.RiskUntil.Value;
        }

        if (manual && open.ManualUntil > end)
        {
            end = open.ManualUntil.Value;
        }

        if (end < open.WindowStart)
        {
            end = open.WindowStart; // a window asked for ahead (the PAE was slow to run) ends no earlier than it starts
        }

        foreach (var point in forecast)
        {
            if (point.Time < open.WindowEnd && point.Time + step > end && (point.P90 * (1 + options.Headroom)) - productionCapacity > 0)
            {
                end = point.Time + step;
            }
        }

        return end < open.WindowEnd ? end : null;
    }

    private TimeSpan NextDecision(TimeSpan? nextDecisionIn) => nextDecisionIn is { } next && next > decidesEvery ? next : decidesEvery;

    /// <summary>Rounds down to a multiple of the step, so that re-runs a few seconds apart agree on the window.</summary>
    private static DateTimeOffset Quantize(DateTimeOffset time, TimeSpan step) => TimeGrid.Floor(time, step);
}
