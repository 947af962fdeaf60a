using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Planning;
using Shadowing.Forecasting.Risk;

namespace Shadowing.Forecasting.Pae;

/// <summary>What one PAE run did for one service.</summary>
/// <param name="Service">The service.</param>
/// <param name="Forecast">The stored forecast, or null when the service was skipped or failed.</param>
/// <param name="Request">The shadow request stored, if any.</param>
/// <param name="Published">Whether the request was new or changed (and so published).</param>
/// <param name="Problem">Why the service was skipped or failed.</param>
/// <param name="Decision">Why shadows were or were not requested (null when there was no forecast).</param>
public sealed record ServiceForecastOutcome(string Service, ForecastDocument? Forecast, ShadowRequest? Request, bool Published, string? Problem, string? Decision = null);

/// <summary>
/// What the last PAE run did for one service and why, stored at <c>pae/{service}</c> and logged: whether it
/// forecast (and if not, why: how much history there is and how much is needed, a source that failed), and
/// why shadows were or were not requested.
/// </summary>
public sealed record PaeServiceStatus
{
    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>When the run was.</summary>
    public required DateTimeOffset RunAt { get; init; }

    /// <summary>Whether a forecast was written to <c>forecast/{service}</c>.</summary>
    public required bool Forecast { get; init; }

    /// <summary>The forecasting method used, when it forecast.</summary>
    public ForecastMethod? Method { get; init; }

    /// <summary>Whole steps of demand history read.</summary>
    public int HistorySteps { get; init; }

    /// <summary>The demand history read.</summary>
    public TimeSpan History { get; init; }

    /// <summary>Why there is no forecast, when there is none.</summary>
    public string? Problem { get; init; }

    /// <summary>Why shadows were or were not requested, when there is a forecast.</summary>
    public string? Decision { get; init; }

    /// <summary>The shadow request made or kept by this run, if any.</summary>
    public string? ShadowRequestId { get; init; }
}

/// <summary>
/// The PAE run, shared by the Azure Function <c>ForecastDemand</c> and the embedded host's timer: for every
/// service with a routing table, read its demand and risk metrics, forecast demand over the horizon (reusing
/// the service's model until it is <see cref="PaeOptions.RetrainEvery"/> old), score failure risk, write
/// <c>forecast/{service}</c>, and submit a shadow request when the planner asks for one. A failing service is
/// logged and reported; the others still run.
/// </summary>
public sealed partial class DemandForecastService
{
    private readonly RoutingTableStore _tables;
    private readonly IMetricsSource _metrics;
    private readonly IStateStore _store;
    private readonly ShadowRequestStore _requests;
    private readonly PaeOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DemandForecastService> _logger;
    private readonly DemandForecaster _forecaster;
    private readonly FailureRiskScorer _risk;
    private readonly ShadowPlanner _planner;
    private readonly PaeMetrics _metricsView;
    private readonly ConcurrentDictionary<string, (ForecastModel Model, DateTimeOffset TrainedAt)> _models = new(StringComparer.Ordinal);

    // The service the next run starts with, when the last one stopped at its deadline (runs do not overlap): read from the
    // store at each run (the timer's runs move between a Functions app's instances), remembered here when the store fails.
    private string? _resumeAt;
    private readonly SemaphoreSlim _running = new(1, 1);
    private List<TimeSpan> _trainings = [];
    private TimeSpan _budgetLeft;

    /// <summary>Whole steps of demand a forecast needs (with fewer there is no change to extrapolate).</summary>
    private const int MinForecastSteps = 2;

    /// <summary>Creates the service.</summary>
    public DemandForecastService(
        RoutingTableStore tables,
        IMetricsSource metrics,
        IStateStore store,
        ShadowRequestStore requests,
        IHolidayCalendar holidays,
        IOptions<PaeOptions> options,
        TimeProvider timeProvider,
        ILogger<DemandForecastService> logger,
        PaeMetrics? paeMetrics = null)
    {
        _metricsView = paeMetrics ?? new PaeMetrics();
        _tables = tables;
        _metrics = metrics;
        _store = store;
        _requests = requests;
        _options = options.Value;
        _time = timeProvider;
        _logger = logger;
        _forecaster = new DemandForecaster(_options.Forecaster, holidays, timeProvider);
        _risk = new FailureRiskScorer(_options.Risk);
        _planner = new ShadowPlanner(_options.Planner, _options.Interval);
    }

    /// <summary>How long each model training of the latest run took.</summary>
    public IReadOnlyList<TimeSpan> LastRunTrainings => _trainings;

    /// <summary>Runs the PAE once for every service. Runs do not overlap: a second caller waits.</summary>
    public async Task<IReadOnlyList<ServiceForecastOutcome>> RunAsync(CancellationToken cancellationToken = default)
    {
        await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _trainings = [];
            _budgetLeft = _options.TrainingBudget;
            var outcomes = new List<ServiceForecastOutcome>();

            // A table that cannot be read fails its own service, not the run (its model is kept for when it can be read again).
            var unreadable = new List<(string Service, JsonException Error)>();
            var tables = (await _tables.ListAsync((s, ex) => unreadable.Add((s, ex)), cancellationToken).ConfigureAwait(false)).OrderBy(e => e.Value.Service, StringComparer.Ordinal).ToList();
            foreach (var (service, error) in unreadable)
            {
                LogServiceFailed(error, service);
                var outcome = new ServiceForecastOutcome(service, null, null, false, $"its routing table cannot be read: {error.Message}");
                outcomes.Add(outcome);
                await ReportAsync(outcome, (0, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
            }

            // A deleted service's model and gauges go with it.
            var services = tables.Select(e => e.Value.Service).Concat(unreadable.Select(u => u.Service)).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _models.Keys.Where(s => !services.Contains(s)).ToArray())
            {
                _models.TryRemove(gone, out _);
            }

            _metricsView.Retain(services);
            await ForgetGoneAsync(services, cancellationToken).ConfigureAwait(false);

            // Past the run's deadline the rest wait for the next run, which starts with them: a Functions invocation that
            // outlived functionTimeout would be killed with the worker, its cached hours and models lost, and the services
            // late in the list would never be forecast.
            var resumed = await ReadResumeAsync(cancellationToken).ConfigureAwait(false);
            var first = resumed.Service is { } resume ? tables.FindIndex(e => string.CompareOrdinal(e.Value.Service, resume) >= 0) : 0;
            var deadline = _time.GetUtcNow() + _options.RunDeadline;
            var unexpected = new List<Exception>();
            string? next = null;
            for (var i = 0; i < tables.Count; i++)
            {
                var entry = tables[(Math.Max(0, first) + i) % tables.Count];
                var service = entry.Value.Service;
                if (i > 0 && _time.GetUtcNow() >= deadline)
                {
                    next = service;
                    LogRunDeadline(tables.Count - i, _options.RunDeadline, service);
                    break;
                }

                var history = (Steps: 0, Span: TimeSpan.Zero);
                ServiceForecastOutcome outcome;
                try
                {
                    outcome = await RunServiceAsync(entry.Value, h => history = h, cancellationToken).ConfigureAwait(false);
                }
                catch (MetricsUnavailableException ex)
                {
                    // Expected while a service has no traffic yet or its source is down: say why, without a stack trace.
                    outcome = new ServiceForecastOutcome(service, null, null, false, ex.Message);
                }
                catch (Exception ex) when (ex is StateStoreException or JsonException or Core.Messaging.EventBusException or TimeSeriesFormatException
                    || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    // A cancellation nobody asked for is a source's own timeout (HttpClient, Azure.Core): this service's failure, not the run's.
                    LogServiceFailed(ex, service);
                    outcome = new ServiceForecastOutcome(service, null, null, false, ex.Message);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Unexpected (a bug in a source, in training): still this service's alone, so the services after it are
                    // forecast (every later run would start with it and stop there again), and the run fails once all have
                    // run, so the host counts it.
                    LogServiceFailed(ex, service);
                    unexpected.Add(ex);
                    outcome = new ServiceForecastOutcome(service, null, null, false, ex.Message);
                }

                outcomes.Add(outcome);
                await ReportAsync(outcome, history, cancellationToken).ConfigureAwait(false);
            }

            await WriteResumeAsync(resumed, next, cancellationToken).ConfigureAwait(false);
            return unexpected.Count == 0 ? outcomes : throw new AggregateException($"{unexpected.Count} service(s) failed unexpectedly; the others were forecast.", unexpected);
        }
        finally
        {
            _running.Release();
        }
    }

    /// <summary>
    /// The service this run starts with, as the store says (as this instance last left it when the store fails), and
    /// whether the store said it.
    /// </summary>
    private async Task<(string? Service, bool Read)> ReadResumeAsync(CancellationToken cancellationToken)
    {
        try
        {
            _resumeAt = (await _store.GetJsonAsync<PaeResumePoint>(StateKeys.PaeResume, cancellationToken).ConfigureAwait(false))?.Value.Service;
            return (_resumeAt, true);
        }
        catch (Exception ex) when (ex is StateStoreException or JsonException)
        {
            LogResumeNotRead(ex);
            return (_resumeAt, false);
        }
    }

    /// <summary>Keeps where the next run starts (best effort: the store may be what failed; this instance still remembers it).</summary>
    private async Task WriteResumeAsync((string? Service, bool Read) resumed, string? next, CancellationToken cancellationToken)
    {
        _resumeAt = next;
        if (resumed.Read && next == resumed.Service)
        {
            return; // as stored (an unreadable one is written over)
        }

        try
        {
            if (next is null)
            {
                await _store.DeleteAsync(StateKeys.PaeResume, etag: null, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _store.SaveJsonAsync(StateKeys.PaeResume, new PaeResumePoint(next), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
        catch (StateStoreException ex)
        {
            LogResumeNotStored(ex, next ?? "the first service");
        }
    }

    /// <summary>
    /// How long until this service is likely decided again: as long as it was since its last decision (<c>pae/{service}</c>),
    /// when that was longer than the interval and at most an hour ago (longer: a new service, or the PAE was down, which
    /// says nothing of its cadence). Runs that stop at their deadline take turns over the services, and a run that
    /// outlasts the interval skips one: a service may be decided every 15 minutes on a 5-minute schedule, and shadows
    /// asked for a lead time before a need the next decision would come too late for would then be late.
    /// </summary>
    private async Task<TimeSpan?> NextDecisionInAsync(string service, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            var last = (await _store.GetJsonAsync<PaeServiceStatus>(StateKeys.PaeStatus(service), cancellationToken).ConfigureAwait(false))?.Value.RunAt;
            return last is { } at && now - at > _options.Interval && now - at <= TimeSpan.FromHours(1) ? now - at : null;
        }
        catch (Exception ex) when (ex is StateStoreException or System.Text.Json.JsonException)
        {
            return null; // the interval, as without a record
        }
    }

    /// <summary>The stored resume point.</summary>
    private sealed record PaeResumePoint(string Service);

    /// <summary>
    /// Deletes the stored forecast, scoreboard and status of each service whose routing table is gone: kept, they would
    /// answer for a deleted service (the status API) and grow the store with every short-lived service, and a service
    /// created again under the name would inherit the old scoreboard's selection.
    /// </summary>
    private async Task ForgetGoneAsync(HashSet<string> services, CancellationToken cancellationToken)
    {
        try
        {
            // Under each of the three prefixes: the status is written best effort, so a service may have a forecast and
            // scores without one.
            var gone = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var prefix in new[] { StateKeys.PaeStatus(string.Empty), StateKeys.Forecast(string.Empty), StateKeys.ForecastScores(string.Empty) })
            {
                gone.UnionWith((await _store.ListKeysAsync(prefix, cancellationToken).ConfigureAwait(false)).Select(key => key[prefix.Length..]).Where(service => !services.Contains(service)));
            }

            foreach (var service in gone)
            {
                await _store.DeleteAsync(StateKeys.Forecast(service), etag: null, cancellationToken).ConfigureAwait(false);
                await _store.DeleteAsync(StateKeys.ForecastScores(service), etag: null, cancellationToken).ConfigureAwait(false);
                await _store.DeleteAsync(StateKeys.PaeStatus(service), etag: null, cancellationToken).ConfigureAwait(false);
                LogForgotten(service);
            }
        }
        catch (StateStoreException ex)
        {
            LogForgetFailed(ex); // the next run tries again; nothing else depends on it
        }
    }

    /// <summary>Logs what the run did for a service and stores it at <c>pae/{service}</c> (best effort: the store may be what failed).</summary>
    private async Task ReportAsync(ServiceForecastOutcome outcome, (int Steps, TimeSpan Span) history, CancellationToken cancellationToken)
    {
        if (outcome.Forecast is { } forecast)
        {
            LogServiceForecast(outcome.Service, forecast.Method, Durations.Describe(history.Span), outcome.Decision ?? string.Empty);
        }
        else
        {
            LogServiceNotForecast(outcome.Service, outcome.Problem ?? "unknown");
            _metricsView.Forget(outcome.Service); // whatever stopped it (too short, stale, the source failing): earlier figures would read as current
        }

        var status = new PaeServiceStatus
        {
            Service = outcome.Service,
            RunAt = _time.GetUtcNow(),
            Forecast = outcome.Forecast is not null,
            Method = outcome.Forecast?.Method,
            HistorySteps = history.Steps,
            History = history.Span,
            Problem = outcome.Problem,
            Decision = outcome.Decision,
            ShadowRequestId = outcome.Request?.Id,
        };
        try
        {
            await _store.SaveJsonAsync(StateKeys.PaeStatus(outcome.Service), status, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (StateStoreException ex)
        {
            LogStatusNotStored(ex, outcome.Service);
        }
    }

    private async Task<ServiceForecastOutcome> RunServiceAsync(RoutingTable table, Action<(int Steps, TimeSpan Span)> history, CancellationToken cancellationToken)
    {
        var service = table.Service;
        var now = _time.GetUtcNow();
        var step = _options.Step;

        // Whole steps only, aligned to the step, and settled at the source: a partial step would look like a drop in demand.
        // Less a second: timers fire up to a few milliseconds before their time (they run on a coarser clock than the wall
        // clock's), and a run due at 12:06:00 that woke at 12:05:59.998 would otherwise forecast from 12:00, as the run
        // before it did.
        var settled = now - _options.SettleTime + TimeSpan.FromSeconds(1);
        var end = TimeGrid.Floor(settled, step);
        RegularSeries demand;
        try
        {
            demand = await _metrics.GetAsync(new MetricQuery(service, MetricKind.Requests, end - _options.History, end, step), cancellationToken).ConfigureAwait(false);
        }
        catch (MetricsUnavailableException ex)
        {
            throw new MetricsUnavailableException($"no demand history: {ex.Message}", ex);
        }

        history((demand.Count, demand.Step * demand.Count));
        var steps = (int)Math.Max(1, _options.Horizon.Ticks / step.Ticks);
        if (demand.Count < MinForecastSteps)
        {
            return new ServiceForecastOutcome(
                service, null, null, false,
                $"not enough demand history: {demand.Count} whole step(s) of {Durations.Describe(step)}; a forecast needs {MinForecastSteps} ({Durations.Describe(step * MinForecastSteps)})");
        }

        // A series that stops short of the settled end (scrapes failing, every router down, ingestion behind) would put
        // the forecast's origin, and the windows planned from it, in the past. One step late is tolerated.
        var ends = demand.TimeAt(demand.Count - 1) + step;
        if (end - ends > step)
        {
            return new ServiceForecastOutcome(
                service, null, null, false,
                $"demand history ends at {ends:u}, {Durations.Describe(end - ends)} before the latest settled step ({end:u}): the source is behind or has stopped; no forecast from stale data");
        }

        var events = await _store.GetJsonAsync<List<CalendarEvent>>(StateKeys.Events(service), cancellationToken).ConfigureAwait(false) is { } stored
            ? new EventCalendar(stored.Value)
            : EventCalendar.Empty;
        var model = await ModelForAsync(service, demand, steps, events, now, cancellationToken).ConfigureAwait(false);
        var (points, methods, scores, selection) = await ChooseAsync(service, model, demand, events, cancellationToken).ConfigureAwait(false);

        var risk = await RiskAsync(service, end, demand, cancellationToken).ConfigureAwait(false);
        double? endpointCapacity = null;
        string? capacityProblem = null;
        try
        {
            endpointCapacity = await EndpointCapacityAsync(table, end, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MetricsUnavailableException or TimeSeriesFormatException)
        {
            capacityProblem = ex.Message;
        }

        double? productionCapacity = endpointCapacity * Math.Max(1, table.Production.Count);
        var historySpan = demand.Step * demand.Count;
        var trusted = historySpan >= _options.Planner.MinHistory;

        // Without a capacity or enough history there is no demand decision; risk alone may still ask for shadows.
        var demandDecided = trusted && endpointCapacity is not null;
        var nextDecisionIn = await NextDecisionInAsync(service, now, cancellationToken).ConfigureAwait(false);
        var decision = _planner.Decide(service, demandDecided ? points : [], step, productionCapacity ?? 0, endpointCapacity ?? 1, (risk.Score, risk.Alarm), now, nextDecisionIn);
        ShadowRequest? stored2 = null;
        var published = false;
        if (decision.Request is { } request)
        {
            (stored2, published) = await _requests.SubmitAsync(request, cancellationToken).ConfigureAwait(false);
            if (published)
            {
                LogShadowsRequested(service, stored2.Count, stored2.WindowStart, stored2.WindowEnd, stored2.Reason);
            }
        }

        if (demandDecided)
        {
            // Demand falls as well as rises: a window the fresher forecast no longer needs ends sooner, and its shadows retire.
            var shortened = await _requests.ShortenAsync(
                service,
                open => _planner.ShortenedEnd(open, points, step, productionCapacity!.Value, endpointCapacity!.Value, now, nextDecisionIn),
                "the forecast's p90 plus headroom stays within production capacity after that",
                now,
                cancellationToken).ConfigureAwait(false);
            foreach (var shorter in shortened)
            {
                LogShadowsShortened(service, shorter.Id, shorter.WindowEnd);
                if (stored2 is null || stored2.Id == shorter.Id)
                {
                    (stored2, published) = (shorter, true);
                }
            }
        }

        var document = new ForecastDocument
        {
            Service = service,
            GeneratedAt = now,
            Origin = demand.TimeAt(demand.Count - 1),
            Step = step,
            Method = methods.GroupBy(m => m).OrderByDescending(g => g.Count()).First().Key, // what forecasts most horizons
            Selection = selection,
            Points = points,
            Accountability = scores,
            RiskScore = risk.Score,
            RiskAlarm = risk.Alarm,
            ProductionCapacity = productionCapacity,
            EndpointCapacity = endpointCapacity,
            ShadowsNeededFrom = decision.NeededFrom,
            ShadowRequestId = stored2?.Id,
        };
        await _store.SaveJsonAsync(StateKeys.Forecast(service), document, cancellationToken: cancellationToken).ConfigureAwait(false);
        var why = Explain(decision, stored2, points, risk, productionCapacity, capacityProblem, historySpan, now);
        return new ServiceForecastOutcome(service, document, stored2, published, null, why);
    }

    /// <summary>
    /// Scores the forecasts of earlier runs whose actuals have arrived, then chooses per horizon between the model, the
    /// baselines and their combination by recent error (<see cref="ForecastScoreboard"/>; the model for targets inside a
    /// calendar event, which the baselines cannot know), remembering every
    /// candidate's forecast for later runs to score; the scoreboard is kept at <c>forecast-scores/{service}</c>.
    /// </summary>
    private async Task<(ForecastPoint[] Points, ForecastMethod[] Methods, IReadOnlyList<HorizonScore> Scores, string Selection)> ChooseAsync(string service, ForecastModel model, RegularSeries demand, EventCalendar events, CancellationToken cancellationToken)
    {
        ScoreboardState? stored;
        try
        {
            stored = (await _store.GetJsonAsync<ScoreboardState>(StateKeys.ForecastScores(service), cancellationToken).ConfigureAwait(false))?.Value;
        }
        catch (JsonException ex)
        {
            // Written by another version (a candidate this one does not know, after a rollback) or damaged: unread, it would
            // stop the service's forecasts for good, since only a successful run writes it again. Scoring starts afresh.
            LogScoresUnreadable(service, ex.Message);
            stored = null;
        }

        var scoreboard = ForecastScoreboard.Create(_options.Forecaster, demand.Step, stored);
        var origin = demand.Count - 1;
        scoreboard.Resolve(demand, origin);
        var points = new ForecastPoint[model.Horizons.Count];
        var methods = new ForecastMethod[model.Horizons.Count];
        for (var i = 0; i < points.Length; i++)
        {
            var h = model.Horizons[i];
            var candidates = model.Candidates(demand, [origin], h)[0];
            (points[i], methods[i]) = scoreboard.Choose(candidates, model.Choices[h], events.At(candidates.Time, demand.Step).Active);
        }

        await _store.SaveJsonAsync(StateKeys.ForecastScores(service), scoreboard.State, cancellationToken: cancellationToken).ConfigureAwait(false);
        var scores = scoreboard.Report(ReportedHorizons(model.Horizons));
        _metricsView.Update(service, scores);
        return (points, methods, scores, Describe(model, methods, scoreboard));
    }

    /// <summary>The horizons whose scores the forecast document and <c>/metrics</c> carry: the first, the middle and the last (all 24 would swamp both).</summary>
    private static int[] ReportedHorizons(IReadOnlyList<int> horizons) => [.. new[] { horizons[0], horizons[horizons.Count / 2], horizons[^1] }.Distinct()];

    /// <summary>Per horizon what forecasts it and why: the recent WAPE of each candidate once scored, else the held-out WAPE at training.</summary>
    private static string Describe(ForecastModel model, ForecastMethod[] methods, ForecastScoreboard scoreboard) => string.Join("; ", model.Horizons.Select((h, i) =>
    {
        var recent = scoreboard.Decides(h) ? scoreboard.Report([h]).Where(s => s.Candidate != HorizonScore.Forecast && s.Wape is not null).ToArray() : [];
        var why = recent.Length > 0
            ? "recent WAPE " + string.Join(", ", recent.OrderBy(s => s.Wape).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Candidate} {s.Wape:F3}")))
            : "held-out WAPE at training " + string.Join(", ", model.Choices[h].HeldOutWape.OrderBy(w => w.Value).Select(w => string.Create(CultureInfo.InvariantCulture, $"{w.Key} {w.Value:F3}")));
        return $"horizon {h}: {methods[i]} ({why})";
    }));

    /// <summary>Why shadows were or were not requested, with the numbers that decided it.</summary>
    private string Explain(PlanDecision decision, ShadowRequest? request, IReadOnlyList<ForecastPoint> points, (double Score, bool Alarm, int Scored) risk, double? productionCapacity, string? capacityProblem, TimeSpan history, DateTimeOffset now)
    {
        var planner = _options.Planner;
        if (request is not null)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{request.Count} shadow(s) requested for {request.WindowStart:u} to {request.WindowEnd:u} ({request.Id}): {request.Reason}");
        }

        var parts = new List<string>();
        if (capacityProblem is not null)
        {
            parts.Add($"no demand decision: {capacityProblem}");
        }
        else if (history < planner.MinHistory)
        {
            parts.Add($"no demand decision until there is {Durations.Describe(planner.MinHistory)} of history (Pae:Planner:MinHistory); there is {Durations.Describe(history)}");
        }
        else if (decision.NeededFrom is { } from)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{decision.PeakShadows} shadow(s) needed from {from:u}, {Durations.Describe(from - now)} ahead: beyond the lead time of {Durations.Describe(planner.LeadTime)} past the next run ({Durations.Describe(_options.Interval)}, Pae:Interval), so requested at the last run before {from - planner.LeadTime:u}"));
        }
        else
        {
            var peak = points.Count > 0 ? points.Max(p => p.P90) : 0;
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"no shadows needed: peak p90 {peak:F0} requests per {Durations.Describe(_options.Step)} plus {planner.Headroom:P0} headroom stays within production capacity {productionCapacity:F0}"));
        }

        parts.Add(risk.Scored > 0 || _options.RiskMetrics.Count == 0
            ? string.Create(CultureInfo.InvariantCulture, $"failure risk {risk.Score:F2} below {planner.RiskThreshold:F2}")
            : $"failure risk not assessed: none of {string.Join(", ", _options.RiskMetrics)} (Pae:RiskMetrics) could be read");
        return string.Join("; ", parts);
    }

    private async Task<ForecastModel> ModelForAsync(string service, RegularSeries demand, int steps, EventCalendar events, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var usable = _models.TryGetValue(service, out var cached)
            && cached.Model.Horizons.Count == steps
            && cached.Model.TrainingExamples > 0
            && demand.Count - 1 >= cached.Model.MinOrigin;
        if (usable && !cached.Model.Events.Events.SequenceEqual(events.Events))
        {
            // The calendar changed since training (a campaign added an hour ahead): forecast with it now.
            _models[service] = cached = (cached.Model.WithEvents(events), cached.TrainedAt);
        }

        if (usable && now - cached.TrainedAt < _options.RetrainEvery)
        {
            return cached.Model;
        }

        if (_budgetLeft <= TimeSpan.Zero)
        {
            // This run's training time is spent: an older model, or the baselines, until a later run trains this one.
            LogTrainingDeferred(service, usable ? "its older model" : "the baselines");
            return usable ? cached.Model : _forecaster.FitBaselines(demand, [.. Enumerable.Range(1, steps)], events);
        }

        // Training takes seconds of CPU: on a thread of its own, never one the host's request handling draws from.
        var started = _time.GetTimestamp();
        ForecastModel model;
        try
        {
            model = await Task.Factory.StartNew(
                () => _forecaster.Fit(demand, [.. Enumerable.Range(1, steps)], events, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Training failed (LightGBM's native library missing from an image, memory): the service is still forecast, and
            // its risk scored, with its older model or the baselines, which need no training; a later run tries again.
            _budgetLeft -= _time.GetElapsedTime(started);
            LogTrainingFailed(ex, service, usable ? "its older model" : "the baselines");
            return usable ? cached.Model : _forecaster.FitBaselines(demand, [.. Enumerable.Range(1, steps)], events);
        }

        var took = _time.GetElapsedTime(started);
        _budgetLeft -= took;
        _trainings.Add(took);
        _models[service] = (model, now);
        LogTrained(service, model.Method, model.TrainingExamples, model.TrainingTime.TotalSeconds);
        return model;
    }

    /// <summary>The latest failure risk over <see cref="PaeOptions.RiskMetrics"/>, and how many of them could be scored.</summary>
    private async Task<(double Score, bool Alarm, int Scored)> RiskAsync(string service, DateTimeOffset now, RegularSeries demand, CancellationToken cancellationToken)
    {
        var scored = new List<RiskSeries>();
        foreach (var kind in _options.RiskMetrics)
        {
            try
            {
                var series = await _metrics.GetAsync(new MetricQuery(service, kind, now - _options.History, now, _options.Step), cancellationToken).ConfigureAwait(false);
                var ends = series.TimeAt(series.Count - 1) + series.Step;
                if (now - ends > _options.Step && kind is (MetricKind.LatencyP90 or MetricKind.LatencyMean) && NoRequestsSince(demand, ends))
                {
                    // A quiet service: steps without requests have no latency, so there is none to judge now.
                    LogRiskMetricMissing(service, kind, string.Create(CultureInfo.InvariantCulture, $"no requests since {ends:u}"));
                    continue;
                }

                if (now - ends > _options.Step)
                {
                    // As for demand: a metric whose source stopped would keep its last score (an alarm, or a calm that
                    // hides one) for as long as it stays stopped. One step late is tolerated.
                    LogRiskMetricStale(service, kind, ends, now);
                    continue;
                }

                // Only the latest score and alarm are used: a day's tail costs a fraction of scoring all the history.
                // Counts are measured to one event: a service with an error in a few steps is not a billion deviations out.
                scored.Add(_risk.ScoreLatest(series, TimeSpan.FromDays(1), minScale: kind is MetricKind.Errors or MetricKind.Requests ? 1 : 0));
            }
            catch (MetricsUnavailableException ex) when (ex.NoData)
            {
                LogRiskMetricMissing(service, kind, ex.Message);
            }
            catch (MetricsUnavailableException ex)
            {
                LogRiskMetricFailed(service, kind, ex.Message); // a bad query, a source down: risk runs blind on this one
            }
            catch (TimeSeriesFormatException ex)
            {
                LogRiskMetricFailed(service, kind, ex.Message); // a malformed file of an optional metric: not the demand forecast's failure
            }
        }

        var combined = FailureRiskScorer.Combine(scored);
        return combined.Scores.Count == 0 ? (0, false, 0) : (combined.Scores[^1], combined.Alarms[^1], scored.Count);
    }

    /// <summary>Whether <paramref name="demand"/> has no requests at or after <paramref name="since"/>.</summary>
    private static bool NoRequestsSince(RegularSeries demand, DateTimeOffset since)
    {
        for (var i = demand.Count - 1; i >= 0 && demand.TimeAt(i) >= since; i--)
        {
            if (demand.Values[i] > 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Requests per step one endpoint serves: configured, or Little's law on the observed mean latency.</summary>
    private async Task<double> EndpointCapacityAsync(RoutingTable table, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var stepMinutes = _options.Step.TotalMinutes;
        if (_options.EndpointCapacity.TryGetValue(table.Service, out var perMinute) && perMinute > 0)
        {
            return perMinute * stepMinutes;
        }

        var concurrency = table.Production.Count > 0 ? table.Production.Average(p => p.MaxConcurrency) : 1;
        var latency = await _metrics.GetAsync(new MetricQuery(table.Service, MetricKind.LatencyMean, now - TimeSpan.FromHours(1), now, _options.Step), cancellationToken).ConfigureAwait(false);
        var observed = latency.Values.Where(v => v > 0).Order().ToArray();
        if (observed.Length == 0)
        {
            throw new MetricsUnavailableException($"Service '{table.Service}' has no observed latency in the last hour to estimate endpoint capacity; set Pae:EndpointCapacity:{table.Service}.");
        }

        var medianLatencyMs = observed[observed.Length / 2];
        return concurrency * 60_000 / medianLatencyMs * stepMinutes;
    }

    [LoggerMessage(EventId = 69, Level = LogLevel.Warning, Message = "PAE: the run reached Pae:RunDeadline ({Deadline}) with {Left} service(s) left; the next run starts with {Next}")]
    private partial void LogRunDeadline(int left, TimeSpan deadline, string next);

    [LoggerMessage(EventId = 98, Level = LogLevel.Warning, Message = "PAE: where the last run stopped could not be read from the store; this run starts where this instance's last run left it")]
    private partial void LogResumeNotRead(Exception exception);

    [LoggerMessage(EventId = 99, Level = LogLevel.Warning, Message = "PAE: where the next run starts ({Next}) could not be stored; another instance, or this one restarted, would start where the store last said")]
    private partial void LogResumeNotStored(Exception exception, string next);

    [LoggerMessage(EventId = 60, Level = LogLevel.Error, Message = "PAE: service {Service} failed; the other services still run")]
    private partial void LogServiceFailed(Exception error, string service);

    [LoggerMessage(EventId = 64, Level = LogLevel.Information, Message = "PAE: service {Service} not forecast: {Reason}")]
    private partial void LogServiceNotForecast(string service, string reason);

    [LoggerMessage(EventId = 65, Level = LogLevel.Information, Message = "PAE: service {Service} forecast ({Method}, {History} of history); {Decision}")]
    private partial void LogServiceForecast(string service, ForecastMethod method, string history, string decision);

    [LoggerMessage(EventId = 66, Level = LogLevel.Warning, Message = "PAE: the status of service {Service} could not be stored")]
    private partial void LogStatusNotStored(Exception error, string service);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "PAE: service {Service} requests {Count} shadow(s) for {Start:u} to {End:u}: {Reason}")]
    private partial void LogShadowsRequested(string service, int count, DateTimeOffset start, DateTimeOffset end, string reason);

    [LoggerMessage(EventId = 68, Level = LogLevel.Information, Message = "PAE: service {Service} needs the shadows of {RequestId} only until {End:u} now; the window is shortened")]
    private partial void LogShadowsShortened(string service, string requestId, DateTimeOffset end);

    [LoggerMessage(EventId = 62, Level = LogLevel.Information, Message = "PAE: trained {Method} for service {Service} on {Examples} examples in {Seconds:F1} s")]
    private partial void LogTrained(string service, ForecastMethod method, int examples, double seconds);

    [LoggerMessage(EventId = 108, Level = LogLevel.Error, Message = "PAE: training the model of service {Service} failed; it forecasts with {Using} until a later run trains it")]
    private partial void LogTrainingFailed(Exception exception, string service, string @using);

    [LoggerMessage(EventId = 67, Level = LogLevel.Debug, Message = "PAE: service {Service} is due for training, but this run's training budget (Pae:TrainingBudget) is spent; it forecasts with {Using} until a later run")]
    private partial void LogTrainingDeferred(string service, string @using);

    [LoggerMessage(EventId = 63, Level = LogLevel.Debug, Message = "PAE: service {Service} has no {Kind} metric for risk: {Problem}")]
    private partial void LogRiskMetricMissing(string service, MetricKind kind, string problem);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "PAE: service {Service} has no routing table any more; its forecast, scores and status were deleted")]
    private partial void LogForgotten(string service);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "PAE: deleting the forecasts of services without a routing table failed; the next run tries again")]
    private partial void LogForgetFailed(Exception exception);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "PAE: service {Service}'s forecast scores cannot be read ({Problem}); scoring starts afresh, with the baselines until the model earns its way back")]
    private partial void LogScoresUnreadable(string service, string problem);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "PAE: service {Service}'s {Kind} metric could not be read for risk: {Problem}")]
    private partial void LogRiskMetricFailed(string service, MetricKind kind, string problem);

    [LoggerMessage(EventId = 77, Level = LogLevel.Warning, Message = "PAE: service {Service}'s {Kind} metric ends at {Ends:u}, more than a step before {End:u}: its source is behind or has stopped; not scored for risk")]
    private partial void LogRiskMetricStale(string service, MetricKind kind, DateTimeOffset ends, DateTimeOffset end);
}
