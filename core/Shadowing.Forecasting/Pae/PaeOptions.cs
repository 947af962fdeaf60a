using System.ComponentModel.DataAnnotations;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Planning;
using Shadowing.Forecasting.Risk;

namespace Shadowing.Forecasting.Pae;

/// <summary>Settings of the predictive analytics engine (configuration section <c>Pae</c>).</summary>
public sealed class PaeOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Pae";

    /// <summary>Step of the demand series the PAE forecasts. Default 5 min.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan Step { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long after a step ends its metrics are complete at the source: a run forecasts from the last step that ended
    /// at least this long ago. A timer firing on the step boundary (<c>0 */5 * * * *</c>) would otherwise take a step
    /// the router has not finished writing (its last minute lands seconds after the boundary), or Prometheus has not
    /// scraped, as a drop in demand. Default 1 min; Azure Monitor and Log Analytics ingest with a delay of minutes:
    /// raise it there (it must stay below <see cref="Step"/>). At least a second: a run takes a second off it for a timer
    /// that fires early, and under a second it would read the step still being written.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan SettleTime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Steps of <see cref="Step"/> a <see cref="Horizon"/> may span: the forecasts waiting to be scored
    /// (<c>forecast-scores/{service}</c>) grow with the square of the steps, and at this many the document takes about
    /// 2.2 MB of JSON with its scores (2.17 MB in the PAE's tests), about half the 4 MB a Dapr state value may be.
    /// </summary>
    public const int MaxHorizonSteps = 144;

    /// <summary>How far ahead it forecasts, at most <see cref="MaxHorizonSteps"/> steps. Default 2 h.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan Horizon { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How much history it reads. Default 28 days (the weekly features need three weeks and more).</summary>
    [Range(typeof(TimeSpan), "01:00:00", "365.00:00:00")]
    public TimeSpan History { get; set; } = TimeSpan.FromDays(28);

    /// <summary>A service's model is reused until it is this old. Default 1 day.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan RetrainEvery { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Model training one run may start, in wall-clock time: past it, services due for training keep their older model
    /// (or, without one, forecast with the baselines) until a later run, so a cold start or the daily retraining of
    /// many services spreads over runs instead of making one run take hours. One training may overrun it. Default 2 min.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan TrainingBudget { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long one run may go on starting services: past it, the services left are forecast first by the next run. Keep
    /// it below the Functions host's <c>functionTimeout</c> (10 min in host.json), which would kill the worker with its
    /// cached history and models. Default 8 min.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RunDeadline { get; set; } = TimeSpan.FromMinutes(8);

    /// <summary>Run interval of the embedded host's timer (the Functions app uses <c>ForecastSchedule</c>). Default 5 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// On a host that also routes traffic (<c>shadowing up</c>), the share of cores model training may use when
    /// <c>Pae:Forecaster:Threads</c> is not set, so training never starves request threads; <c>shadowing simulate</c>
    /// trains on the default share too. Default 0.5 (at least one core).
    /// </summary>
    [Range(0.01, 1.0)]
    public double TrainingCoreShare { get; set; } = 0.5;

    /// <summary>
    /// The LightGBM threads such a host trains with: <c>Pae:Forecaster:Threads</c> when set, else
    /// <see cref="TrainingCoreShare"/> of <paramref name="processorCount"/> cores, at least one.
    /// </summary>
    public int TrainingThreads(int processorCount) =>
        Forecaster.Threads > 0 ? Forecaster.Threads : Math.Max(1, (int)(processorCount * TrainingCoreShare));

    /// <summary>ISO country code of the public holidays used as features; empty for none. Default US.</summary>
    public string? HolidayCountry { get; set; } = "US";

    /// <summary>
    /// The time zone demand keeps its calendar in (an IANA id such as America/New_York): holidays fall on its days,
    /// and the forecaster reads the time of day and the day of week there. Default UTC (also when empty).
    /// </summary>
    public string? TimeZone { get; set; } = "UTC";

    /// <summary>The calendar of <see cref="HolidayCountry"/> in <see cref="TimeZone"/> (both checked by the validator).</summary>
    public Calendar.IHolidayCalendar HolidayCalendar()
    {
        var zone = string.IsNullOrWhiteSpace(TimeZone) ? TimeZoneInfo.Utc
            : Calendar.TimeZones.Find(TimeZone, out var problem) ?? throw new InvalidOperationException($"{Section}:TimeZone: {problem}");
        return HolidayCountry is { Length: > 0 } country ? new Calendar.PublicHolidayCalendar(country, zone) : new Calendar.NoHolidays(zone);
    }

    /// <summary>
    /// Requests per minute one endpoint can serve, per service (<c>Pae:EndpointCapacity:{service}</c>). When a
    /// service has none, Little's law estimates it from the routing table and observed latency:
    /// maxConcurrency × 60,000 / mean latency in ms.
    /// </summary>
    public Dictionary<string, double> EndpointCapacity { get; set; } = [];

    /// <summary>
    /// Metrics whose risk is scored per service (combined by taking the highest), each from whichever source has it: a
    /// source without one (the router's records have no CPU, memory or I/O) is skipped for that metric. Default p90
    /// latency, errors, CPU, memory and I/O.
    /// </summary>
    public List<Core.Metrics.MetricKind> RiskMetrics { get; set; } = [Core.Metrics.MetricKind.LatencyP90, Core.Metrics.MetricKind.Errors, Core.Metrics.MetricKind.Cpu, Core.Metrics.MetricKind.Memory, Core.Metrics.MetricKind.Io];

    /// <summary>The forecaster.</summary>
    [Required]
    public ForecasterOptions Forecaster { get; set; } = new();

    /// <summary>Failure-risk scoring.</summary>
    [Required]
    public RiskOptions Risk { get; set; } = new();

    /// <summary>The shadow decision.</summary>
    [Required]
    public PlannerOptions Planner { get; set; } = new();
}
