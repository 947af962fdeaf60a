using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Planning;

namespace Shadowing.Forecasting.Simulation;

/// <summary>How capacity is added for a demand trace.</summary>
public enum ScalingPolicy
{
    /// <summary>Shadowing: the PAE forecasts, the planner requests shadows, SEP starts, warms and validates them.</summary>
    Proactive,

    /// <summary>Autoscaling on observed load (Knative/KEDA): 60 s window, target utilisation, cold start, 5-minute scale-down stabilisation.</summary>
    Reactive,

    /// <summary>A fixed daily schedule from the history: per hour of day, the 95th percentile of its demand.</summary>
    Scheduled,

    /// <summary>Hourly predictive scaling (as AWS's): a 48 h hourly forecast every 6 h from the last 14 days, capacity launched 5 min before each hour.</summary>
    PredictiveHourly,
}

/// <summary>The setting every policy is simulated in (<c>shadowing simulate</c>'s options).</summary>
public sealed record SimulationOptions
{
    /// <summary>Production endpoints, always on; every policy's minimum. Default 2.</summary>
    public int ProductionEndpoints { get; init; } = 2;

    /// <summary>Requests per trace step one endpoint serves at full load; null: from the trace (see <see cref="PolicySimulator"/>).</summary>
    public double? CapacityPerEndpoint { get; init; }

    /// <summary>Share of an endpoint's capacity the SLO allows; demand above ready capacity × this is a violation. Default 0.8.</summary>
    public double SloUtilization { get; init; } = 0.8;

    /// <summary>From launch to serving for a new endpoint. Default 10 min.</summary>
    public TimeSpan ColdStart { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A shadow's warm-up and validation after its cold start (SEP's default warm-up of 10 min plus a minute). Default 11 min.</summary>
    public TimeSpan ShadowReadiness { get; init; } = TimeSpan.FromMinutes(11);
}

/// <summary>The trace or the options cannot be simulated; the message says why.</summary>
public sealed class SimulationInputException(string message) : Exception(message);

/// <summary>A run of trace steps whose demand exceeds what production serves within the SLO.</summary>
public sealed record Spike(DateTimeOffset Onset, DateTimeOffset End, double Peak);

/// <summary>What one policy did over the evaluated window.</summary>
public sealed record PolicyOutcome(
    ScalingPolicy Policy,
    double SloViolationMinutes,
    int Spikes,
    int SpikesCoveredBeforeOnset,
    double CapacityHours,
    int ColdStarts,
    IReadOnlyList<double> ReadyCapacity);

/// <summary>The comparison: the window, the definitions' numbers, and each policy's outcome.</summary>
public sealed record SimulationResult(
    DateTimeOffset From,
    DateTimeOffset To,
    TimeSpan Step,
    double CapacityPerEndpoint,
    double UsablePerEndpoint,
    int ProductionEndpoints,
    IReadOnlyList<Spike> Spikes,
    IReadOnlyList<double> Demand,
    IReadOnlyList<PolicyOutcome> Outcomes);

/// <summary>
/// A discrete-event comparison of scaling policies on a demand trace, on a virtual clock of one-minute ticks (no HTTP).
/// The trace's first half is history; the second half is evaluated. Definitions, the same for every policy:
/// <list type="bullet">
/// <item>One endpoint serves <c>C</c> requests per trace step; within the SLO it serves <c>U = C × SloUtilization</c>.
/// By default production carries the history's 90th percentile of demand plus the planner's headroom (10 %) within the
/// SLO: <c>C = p90 × 1.1 / (production endpoints × SLO utilisation)</c>, so ordinary load needs nothing more, the
/// busiest tenth of the history's steps may, and any CSV runs without tuning.</item>
/// <item>A minute violates the SLO when its step's demand exceeds ready endpoints × <c>U</c>.</item>
/// <item>A spike is a maximal run of evaluated steps whose demand exceeds production × <c>U</c>; it is covered before
/// its onset when the ready capacity at its first minute carries its first step.</item>
/// <item>Capacity-hours count every endpoint from launch to retirement (production always); each launch is a cold start.</item>
/// </list>
/// The proactive policy runs the PAE's own code at each completed step: the forecaster trained on up to
/// <see cref="PaeOptions.History"/> before the origin and retrained every <see cref="PaeOptions.RetrainEvery"/>, the
/// <see cref="ForecastScoreboard"/> choosing between model and baselines, the <see cref="ShadowPlanner"/> (its other
/// settings default; its lead time the shadows' readiness plus one step, as an operator would set it), and the
/// <see cref="ShadowRequestStore"/> merging and shortening requests; SEP is modelled as launching the requested shadows at
/// once (at most <see cref="ShadowGuardRails.MaxShadowsPerService"/>), ready after the cold start plus
/// <see cref="SimulationOptions.ShadowReadiness"/>, retired at the window's end. Failure risk is not simulated.
/// </summary>
public sealed class PolicySimulator(PaeOptions pae, IHolidayCalendar holidays, IStateStore store, IEventBus bus, TimeProvider time)
{
    private readonly ShadowRequestStore _requests = new(store, bus);

    private const string Service = "simulated";
    private static readonly TimeSpan Tick = TimeSpan.FromMinutes(1);

    /// <summary>Endpoints beyond production a policy may want before the setup is called absurd.</summary>
    private const int MaxEndpoints = 100_000;

    /// <summary>Simulates <paramref name="policies"/> on <paramref name="series"/>.</summary>
    /// <exception cref="SimulationInputException">The series is too short, its step is not a whole number of minutes, or no default capacity follows from it.</exception>
    public async Task<SimulationResult> RunAsync(RegularSeries series, IReadOnlyList<ScalingPolicy> policies, SimulationOptions options, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(options);
        if (series.Step < Tick || series.Step.Ticks % Tick.Ticks != 0)
        {
            throw new SimulationInputException($"The trace's step is {series.Step}; the simulation needs a whole number of minutes.");
        }

        var start = series.Count / 2;
        if (start < series.StepsIn(TimeSpan.FromDays(1)) || start < 2)
        {
            throw new SimulationInputException($"The trace covers {series.Step * series.Count}; the simulation needs at least two days (the first half is history).");
        }

        var history = series.Values.Take(start).Order().ToArray();
        var p90 = history[(int)(0.9 * (history.Length - 1))];
        if (options.CapacityPerEndpoint is null && !(p90 > 0))
        {
            throw new SimulationInputException($"The history's 90th percentile of demand is {p90}: no capacity per endpoint follows from it; give one.");
        }

        var capacity = options.CapacityPerEndpoint ?? (p90 * (1 + pae.Planner.Headroom) / (options.ProductionEndpoints * options.SloUtilization));
        var usable = capacity * options.SloUtilization;
        var window = new Window(series, start, usable * options.ProductionEndpoints);
        var outcomes = new List<PolicyOutcome>();
        foreach (var policy in policies)
        {
            progress?.Report($"simulating {policy}");
            Func<DateTimeOffset, int> target = policy switch
            {
                ScalingPolicy.Reactive => Reactive(window, usable, options),
                ScalingPolicy.Scheduled => Scheduled(series, start, usable, options),
                ScalingPolicy.PredictiveHourly => PredictiveHourly(series, usable, options),
                _ => await ProactiveAsync(series, start, usable, options, progress, cancellationToken).ConfigureAwait(false),
            };
            outcomes.Add(Play(policy, window, target, usable, options, policy == ScalingPolicy.Proactive ? options.ColdStart + options.ShadowReadiness : options.ColdStart));
        }

        return new SimulationResult(series.TimeAt(start), series.TimeAt(series.Count - 1) + series.Step, series.Step, capacity, usable, options.ProductionEndpoints, window.Spikes, [.. series.Values.Skip(start)], outcomes);
    }

    /// <summary>
    /// Plays a policy's wanted endpoint count minute by minute: launches what is missing (ready after
    /// <paramref name="readiness"/>), retires the surplus newest first, and scores the minutes.
    /// </summary>
    private static PolicyOutcome Play(ScalingPolicy policy, Window window, Func<DateTimeOffset, int> target, double usable, SimulationOptions options, TimeSpan readiness)
    {
        var extras = new List<DateTimeOffset>(); // ready time of each endpoint beyond production
        double violation = 0, endpointMinutes = 0;
        var coldStarts = 0;
        var ready = new double[window.Steps];
        Array.Fill(ready, double.MaxValue);
        var covered = 0;
        var spikes = window.Spikes.ToDictionary(s => s.Onset);
        for (var t = window.From; t < window.To; t += Tick)
        {
            var wanted = Math.Max(0, target(t) - options.ProductionEndpoints);
            if (wanted > MaxEndpoints)
            {
                throw new SimulationInputException($"At {t:u} a policy wants {wanted} more endpoints: the capacity per endpoint ({usable / options.SloUtilization:G4} requests per step) is far too small for this trace.");
            }

            for (; extras.Count < wanted; coldStarts++)
            {
                extras.Add(t + readiness);
            }

            if (extras.Count > wanted)
            {
                extras.RemoveRange(wanted, extras.Count - wanted);
            }

            var readyEndpoints = options.ProductionEndpoints + extras.Count(r => r <= t);
            var step = window.StepOf(t);
            var demand = window.Demand(step);
            if (demand > readyEndpoints * usable)
            {
                violation += Tick.TotalMinutes;
            }

            if (spikes.ContainsKey(t) && readyEndpoints * usable >= demand)
            {
                covered++;
            }

            ready[step] = Math.Min(ready[step], readyEndpoints * usable);
            endpointMinutes += options.ProductionEndpoints + extras.Count;
        }

        return new PolicyOutcome(policy, violation, window.Spikes.Count, covered, endpointMinutes / 60, coldStarts, ready);
    }

    /// <summary>
    /// Every minute the load observed over the minute before (the 60 s window: it cannot see the minute it acts in), endpoints
    /// for it at the SLO utilisation, scale-down only to the highest want of the last 5 minutes.
    /// </summary>
    private static Func<DateTimeOffset, int> Reactive(Window window, double usable, SimulationOptions options)
    {
        var wants = new Queue<int>();
        return t =>
        {
            var want = Math.Max(options.ProductionEndpoints, (int)Math.Min(int.MaxValue / 2, Math.Ceiling(window.Demand(window.StepOf(t - Tick)) / usable)));
            wants.Enqueue(want);
            if (wants.Count > 5)
            {
                wants.Dequeue();
            }

            return wants.Max();
        };
    }

    /// <summary>Per hour of day, the history's 95th percentile of demand; each hour's endpoints launched one cold start ahead.</summary>
    private static Func<DateTimeOffset, int> Scheduled(RegularSeries series, int start, double usable, SimulationOptions options)
    {
        var byHour = Enumerable.Range(0, start).GroupBy(i => series.TimeAt(i).UtcDateTime.Hour).ToDictionary(g => g.Key, g => g.Select(i => series.Values[i]).Order().ToArray());
        var endpoints = new int[24];
        for (var hour = 0; hour < 24; hour++)
        {
            var values = byHour.GetValueOrDefault(hour, [0]);
            endpoints[hour] = Math.Max(options.ProductionEndpoints, (int)Math.Ceiling(values[(int)(0.95 * (values.Length - 1))] / usable));
        }

        return t => Math.Max(endpoints[t.UtcDateTime.Hour], endpoints[(t + options.ColdStart).UtcDateTime.Hour]);
    }

    /// <summary>
    /// Every 6 h (00, 06, 12, 18 UTC) a forecast of the next 48 hours, hour by hour: the mean demand of the same hour of day
    /// over the last 14 days (at least one). Each hour's capacity is launched 5 minutes before it starts.
    /// </summary>
    private static Func<DateTimeOffset, int> PredictiveHourly(RegularSeries series, double usable, SimulationOptions options)
    {
        var buffer = TimeSpan.FromMinutes(5);
        var forecastAt = DateTimeOffset.MinValue;
        var plan = new Dictionary<DateTimeOffset, int>();
        return t =>
        {
            var refresh = new DateTimeOffset(t.UtcDateTime.Date, TimeSpan.Zero).AddHours(t.UtcDateTime.Hour / 6 * 6);
            if (refresh != forecastAt)
            {
                forecastAt = refresh;
                plan.Clear();
                var known = series.IndexAtOrBefore(refresh - series.Step); // steps wholly before the forecast
                var from = Math.Max(0, known - series.StepsIn(TimeSpan.FromDays(14)) + 1);
                var hours = Enumerable.Range(from, known - from + 1).GroupBy(i => series.TimeAt(i).UtcDateTime.Hour).ToDictionary(g => g.Key, g => g.Average(i => series.Values[i]));
                for (var h = 0; h < 48; h++)
                {
                    var hour = refresh.AddHours(h);
                    plan[hour] = hours.TryGetValue(hour.UtcDateTime.Hour, out var mean) ? Math.Max(options.ProductionEndpoints, (int)Math.Ceiling(mean / usable)) : options.ProductionEndpoints;
                }
            }

            static DateTimeOffset Hour(DateTimeOffset time) => TimeGrid.Floor(time, TimeSpan.FromHours(1));
            return Math.Max(plan.GetValueOrDefault(Hour(t), options.ProductionEndpoints), plan.GetValueOrDefault(Hour(t + buffer), options.ProductionEndpoints));
        };
    }

    /// <summary>
    /// The PAE at each completed step of the evaluated window, as <see cref="DemandForecastService"/> runs it; returns the
    /// endpoints wanted at each minute: production plus the shadows of the open requests (at most the guard rail's cap).
    /// </summary>
    private async Task<Func<DateTimeOffset, int>> ProactiveAsync(RegularSeries series, int start, double usable, SimulationOptions options, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var step = series.Step;
        var steps = (int)Math.Max(1, pae.Horizon.Ticks / step.Ticks);
        int[] horizons = [.. Enumerable.Range(1, steps)];
        var historySteps = Math.Max(1, (int)(pae.History.Ticks / step.Ticks));
        var retrainSteps = Math.Max(1, (int)(pae.RetrainEvery.Ticks / step.Ticks));
        var forecaster = new DemandForecaster(pae.Forecaster, holidays, time);
        // The lead time an operator would set for these shadows: their readiness; the PAE decides again a step later.
        var planner = new ShadowPlanner(
            new PlannerOptions
            {
                LeadTime = options.ColdStart + options.ShadowReadiness,
                Headroom = pae.Planner.Headroom,
                MinHistory = pae.Planner.MinHistory,
            },
            step);
        var scoreboard = ForecastScoreboard.Create(pae.Forecaster, step);
        var cap = new ShadowGuardRails().MaxShadowsPerService;
        var snapshots = new SortedList<DateTimeOffset, (int Count, DateTimeOffset End)[]>(); // the open requests after each run
        var open = new Dictionary<string, ShadowRequest>(StringComparer.Ordinal); // what the store holds, as its calls returned it
        var production = options.ProductionEndpoints * usable;
        var last = series.Count - 2; // the last origin whose next step is still in the trace
        for (var blockStart = start - 1; blockStart <= last; blockStart += retrainSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var from = Math.Max(0, blockStart + 1 - historySteps);
            var trainOn = new RegularSeries(series.TimeAt(from), step, [.. series.Values.Skip(from).Take(blockStart + 1 - from)]);
            var model = forecaster.Fit(trainOn, horizons, EventCalendar.Empty, cancellationToken);
            progress?.Report($"proactive: trained on {trainOn.Count} steps up to {series.TimeAt(blockStart):u} ({model.Method})");
            int[] origins = [.. Enumerable.Range(blockStart, Math.Min(retrainSteps, last - blockStart + 1))];
            var candidates = horizons.Select(h => model.Candidates(series, origins, h)).ToArray();
            for (var i = 0; i < origins.Length; i++)
            {
                // The run right after step origins[i] completed.
                var now = series.TimeAt(origins[i]) + step;
                scoreboard.Resolve(series, origins[i]);
                var points = horizons.Select((h, k) => scoreboard.Choose(candidates[k][i], model.Choices[h]).Point).ToArray();
                var decision = planner.Decide(Service, points, step, production, usable, (0, false), now);
                if (decision.Request is { } request)
                {
                    var (stored, _) = await _requests.SubmitAsync(request, cancellationToken).ConfigureAwait(false);
                    open[stored.Id] = stored;
                }

                foreach (var shorter in await _requests.ShortenAsync(Service, o => planner.ShortenedEnd(o, points, step, production, usable, now), "simulated", now, cancellationToken).ConfigureAwait(false))
                {
                    open[shorter.Id] = shorter;
                }

                // An ended request can merge with no later one (those start after it ended): dropping it from the store
                // changes nothing but keeps each run from reading months of requests.
                foreach (var ended in open.Values.Where(r => r.WindowEnd <= now).ToArray())
                {
                    await store.DeleteAsync(ShadowRequestStore.KeyOf(ended), etag: null, cancellationToken).ConfigureAwait(false);
                    open.Remove(ended.Id);
                }

                snapshots[now] = [.. open.Values.Select(r => (r.Count, r.WindowEnd))];
            }
        }

        // Between runs, what the last run left open; a window that ends between runs retires its shadows at that minute.
        var runs = snapshots.Keys;
        return t =>
        {
            var run = BinarySearch(runs, t);
            var wanted = run < 0 ? 0 : snapshots.Values[run].Where(r => r.End > t).Select(r => r.Count).DefaultIfEmpty(0).Max();
            return options.ProductionEndpoints + Math.Min(cap, wanted);
        };
    }

    /// <summary>Index of the last key at or before <paramref name="time"/>, or -1.</summary>
    private static int BinarySearch(IList<DateTimeOffset> keys, DateTimeOffset time)
    {
        int low = 0, high = keys.Count - 1, found = -1;
        while (low <= high)
        {
            var middle = (low + high) / 2;
            if (keys[middle] <= time)
            {
                found = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return found;
    }

    /// <summary>The evaluated steps, their demand and spikes.</summary>
    private sealed class Window
    {
        private readonly RegularSeries _series;
        private readonly int _start;

        public Window(RegularSeries series, int start, double production)
        {
            (_series, _start) = (series, start);
            Steps = series.Count - start;
            var spikes = new List<Spike>();
            for (var i = start; i < series.Count; i++)
            {
                if (series.Values[i] > production && (i == start || series.Values[i - 1] <= production))
                {
                    var end = i;
                    while (end + 1 < series.Count && series.Values[end + 1] > production)
                    {
                        end++;
                    }

                    spikes.Add(new Spike(series.TimeAt(i), series.TimeAt(end) + series.Step, Enumerable.Range(i, end - i + 1).Max(j => series.Values[j])));
                }
            }

            Spikes = spikes;
        }

        public int Steps { get; }

        public DateTimeOffset From => _series.TimeAt(_start);

        public DateTimeOffset To => _series.TimeAt(_series.Count - 1) + _series.Step;

        public IReadOnlyList<Spike> Spikes { get; }

        /// <summary>Index, from the window's start, of the step containing <paramref name="time"/> (-1: the last history step).</summary>
        public int StepOf(DateTimeOffset time) => (int)Math.Floor((time - From).Ticks / (double)_series.Step.Ticks);

        public double Demand(int step) => _series.Values[_start + step];
    }
}
