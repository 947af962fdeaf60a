using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Pae;

namespace Shadowing.Cli.Demo;

/// <summary>
/// What the demo watches from the outside, through the state store only (as <c>shadowing status</c> would): the PAE's
/// forecasts, the shadows' phases as the routing table records them, the shadow requests, and the capacity that was
/// ready at each step.
/// </summary>
internal sealed class DemoTimeline(IStateStore store, Core.Messaging.IEventBus bus, RoutingTableStore tables, DemoTrace trace, string service)
{
    /// <summary>Steps ahead of its origin at which a forecast is kept for the plot: the planner's lead time of 30 min.</summary>
    public const int PlotHorizon = 6;

    private readonly Dictionary<DateTimeOffset, (double P50, double P90)> _forecasts = [];
    private readonly List<Transition> _transitions = [];
    private readonly SortedDictionary<DateTimeOffset, CapacitySample> _capacity = [];
    private readonly Lock _lock = new();

    /// <summary>A shadow entering a phase, at the simulated time the routing table says.</summary>
    public sealed record Transition(string Shadow, ShadowState State, DateTimeOffset At);

    /// <summary>Capacity ready at a step, in requests per simulated minute.</summary>
    public sealed record CapacitySample(DateTimeOffset Time, double Production, double Shadows);

    /// <summary>The latest forecast document.</summary>
    public ForecastDocument? Forecast { get; private set; }

    /// <summary>When the PAE's first forecast was made (simulated), or null.</summary>
    public DateTimeOffset? FirstForecastAt { get; private set; }

    /// <summary>The shadows in the routing table at the last look.</summary>
    public IReadOnlyList<ShadowEndpoint> Shadows { get; private set; } = [];

    /// <summary>Shadow requests the PAE stored, oldest first, as they are now (the PAE grows them as the spike shows).</summary>
    public IReadOnlyList<ShadowRequest> Requests { get; private set; } = [];

    private readonly Dictionary<string, ShadowRequest> _firstSeen = new(StringComparer.Ordinal);

    /// <summary>The request with <paramref name="id"/> as first seen, before the PAE grew it.</summary>
    public ShadowRequest? FirstSeen(string id)
    {
        lock (_lock)
        {
            return _firstSeen.GetValueOrDefault(id);
        }
    }

    /// <summary>Whether production's processes are running (the demo says when it kills them).</summary>
    public bool ProductionUp { get; set; } = true;

    /// <summary>Forecast p50 and p90, per minute, made <see cref="PlotHorizon"/> steps before each target time.</summary>
    public IReadOnlyDictionary<DateTimeOffset, (double P50, double P90)> Forecasts
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<DateTimeOffset, (double, double)>(_forecasts);
            }
        }
    }

    public IReadOnlyList<Transition> Transitions
    {
        get
        {
            lock (_lock)
            {
                return [.. _transitions];
            }
        }
    }

    public IReadOnlyList<CapacitySample> Capacity
    {
        get
        {
            lock (_lock)
            {
                return [.. _capacity.Values];
            }
        }
    }

    /// <summary>When the first shadow became PreWarmed (simulated), or null.</summary>
    public DateTimeOffset? FirstPreWarmed => Transitions.Where(t => t.State == ShadowState.PreWarmed).Select(t => (DateTimeOffset?)t.At).Min();

    /// <summary>Looks at the store once; <paramref name="now"/> is the simulated time.</summary>
    public async Task SampleAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var forecast = (await store.GetJsonAsync<ForecastDocument>(StateKeys.Forecast(service), cancellationToken).ConfigureAwait(false))?.Value;
        var table = (await tables.GetAsync(service, cancellationToken).ConfigureAwait(false))?.Value;
        var requests = await new global::Shadowing.Forecasting.Planning.ShadowRequestStore(store, bus).ListAsync(service, cancellationToken).ConfigureAwait(false);

        var shadows = table?.Shadows ?? [];
        var ready = shadows.Count(s => s.State is ShadowState.PreWarmed or ShadowState.Active);
        var step = TimeGrid.Floor(now, DemoTrace.Step);
        lock (_lock)
        {
            Forecast = forecast;
            FirstForecastAt ??= forecast?.GeneratedAt;
            Shadows = [.. shadows.OrderBy(s => s.Id, StringComparer.Ordinal)]; // the table keeps them in the order they were written
            Requests = [.. requests.OrderBy(r => r.CreatedAt)];
            foreach (var request in requests)
            {
                _firstSeen.TryAdd(request.Id, request);
            }
            if (forecast?.Points.FirstOrDefault(p => p.Horizon == PlotHorizon) is { Horizon: PlotHorizon } point && !_forecasts.ContainsKey(point.Time))
            {
                var perMinute = forecast.Step.TotalMinutes;
                _forecasts[point.Time] = (point.P50 / perMinute, point.P90 / perMinute);
            }

            foreach (var shadow in shadows)
            {
                var last = _transitions.LastOrDefault(t => t.Shadow == shadow.Id);
                if (last is null || last.State != shadow.State)
                {
                    _transitions.Add(new Transition(shadow.Id, shadow.State, shadow.StateChangedAt ?? now));
                }
            }

            // The lowest capacity seen within a step is what it could count on.
            var sample = new CapacitySample(step, ProductionUp ? trace.ProductionCapacity : 0, ready * trace.EndpointCapacity);
            _capacity[step] = _capacity.TryGetValue(step, out var seen) && seen.Production + seen.Shadows < sample.Production + sample.Shadows ? seen : sample;
        }
    }
}
