using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.TimeSeries;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Planning;

namespace Shadowing.Benchmarks;

/// <summary>
/// The PAE over many services on the embedded SQLite store, at the default settings (5-minute steps, 28 days of
/// history, 2-hour horizon, daily retraining): runs (ticks) until every service has a trained model, then ticks with
/// every model cached, printing time and memory per tick and per service. Demand comes from an in-memory source of
/// generated series (the router's per-minute records for 1,000 services × 28 days would be 40 million rows to write
/// first); the state the PAE reads and writes (tables, forecasts, scoreboards, status, requests) is in SQLite.
/// Usage: pae-scale [services, default 1000] [training budget per run, default the PAE's (Pae:TrainingBudget)]
/// </summary>
internal static class PaeScale
{
    public static async Task<int> RunAsync(string[] args)
    {
        var services = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
        var clock = new Clock(new DateTimeOffset(2026, 10, 29, 0, 0, 0, TimeSpan.Zero));
        var folder = Directory.CreateTempSubdirectory("pae-scale-").FullName;
        using var store = new SqliteStateStore(Path.Combine(folder, "state.db"), clock);
        await using var bus = new InProcessEventBus(store, clock, Options.Create(new InProcessEventBusOptions()), NullLogger<InProcessEventBus>.Instance);
        var tables = new RoutingTableStore(store, bus);
        var options = new PaeOptions();
        if (args.Length > 1)
        {
            // Only how the first training spreads over runs; time per model, the cached tick and memory do not depend on it.
            options.TrainingBudget = TimeSpan.Parse(args[1], CultureInfo.InvariantCulture);
        }

        var metrics = new GeneratedMetrics(clock.GetUtcNow() - options.History);
        for (var i = 0; i < services; i++)
        {
            var name = $"svc-{i:D4}";
            await tables.PutAsync(new RoutingTable { Service = name, Production = [new ProductionEndpoint { Id = name + "-1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }] });
            options.EndpointCapacity[name] = 10_000; // requests per minute: no shadow requests, the PAE's own work only
        }

        var pae = new DemandForecastService(tables, metrics, store, new ShadowRequestStore(store, bus), new PublicHolidayCalendar("US"), Options.Create(options), clock, NullLogger<DemandForecastService>.Instance);
        Console.WriteLine($"{services} services, {options.History.TotalDays} days of {options.Step.TotalMinutes}-minute history each, horizon {options.Horizon.TotalHours} h, training budget {options.TrainingBudget} per run; {Environment.ProcessorCount} cores");
        var ticks = 0;
        double trainingSeconds = 0;
        var trained = 0;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        while (true)
        {
            var (seconds, outcomes) = await TickAsync(pae);
            var newly = pae.LastRunTrainings;
            trained += newly.Count;
            trainingSeconds += newly.Sum(t => t.TotalSeconds);
            ticks++;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT training run {ticks}: {seconds:F1} s, {newly.Count} trained ({trained} of {services}), {outcomes.Count(o => o.Forecast is not null)} forecast, managed heap {Heap():F0} MB"));
            clock.Advance(options.Interval);
            if (trained >= services)
            {
                break;
            }
        }

        var perModel = trainingSeconds / trained;
        // CPU time does not grow when other work on a shared machine slows the wall clock; it includes the runs' ticks.
        var cpuPerModel = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds / trained;
        var cached = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var (seconds, _) = await TickAsync(pae);
            cached.Add(seconds);
            clock.Advance(options.Interval);
        }

        var tick = cached.Min();
        var heap = Heap();
        var ws = Process.GetCurrentProcess().WorkingSet64 / 1e6;
        var retrainLoad = perModel * services / (options.RetrainEvery / options.Interval);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT cached tick: {tick:F1} s for {services} services = {tick * 1000 / services:F1} ms per service (best of 3: {string.Join(", ", cached.Select(c => c.ToString("F1", CultureInfo.InvariantCulture)))} s)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT memory with every model cached: managed heap {heap:F0} MB ({heap * 1000 / services:F0} KB per service), working set {ws:F0} MB; state file {new FileInfo(Path.Combine(folder, "state.db")).Length / 1e6:F0} MB"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT retraining every service once: {trainingSeconds:F0} s of training ({perModel:F2} s per service) over {ticks} runs within the {options.TrainingBudget.TotalSeconds:F0} s budget each; process CPU time {cpuPerModel:F2} s per service"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT daily retraining spread over the {options.RetrainEvery / options.Interval:F0} runs of a day: {retrainLoad:F1} s per run on average, plus the {tick:F1} s tick = {(retrainLoad + tick) / options.Interval.TotalSeconds:P0} of the {options.Interval.TotalSeconds:F0} s interval"));
        var perService = (tick / services) + (perModel / (options.RetrainEvery / options.Interval));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT services one machine carries at these settings (tick plus its share of retraining within one interval): about {options.Interval.TotalSeconds / perService:F0}"));
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    private static async Task<(double Seconds, IReadOnlyList<ServiceForecastOutcome> Outcomes)> TickAsync(DemandForecastService pae)
    {
        var started = Stopwatch.GetTimestamp();
        var outcomes = await pae.RunAsync();
        return (Stopwatch.GetElapsedTime(started).TotalSeconds, outcomes);
    }

    private static double Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true) / 1e6;
    }

    /// <summary>A clock the benchmark moves; elapsed time stays real.</summary>
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }

    /// <summary>Generated demand per service (a different seed and level each), flat latency and errors; sliced to each query.</summary>
    private sealed class GeneratedMetrics(DateTimeOffset start) : IMetricsSource
    {
        private readonly Dictionary<string, RegularSeries> _demand = [];

        public Task<RegularSeries> GetAsync(MetricQuery query, CancellationToken cancellationToken = default)
        {
            var step = query.Step;
            if (query.Kind != MetricKind.Requests)
            {
                var count = (int)((query.To - query.From) / step);
                return Task.FromResult(new RegularSeries(query.From, step, Enumerable.Repeat(query.Kind == MetricKind.Errors ? 1.0 : 50.0, count).ToArray()));
            }

            if (!_demand.TryGetValue(query.Service, out var series))
            {
                var seed = int.Parse(query.Service.AsSpan(4), CultureInfo.InvariantCulture);
                var full = Inputs.FourWeeksOfDemand(seed + 1, 200 + (seed % 50 * 40), start);
                var more = Inputs.FourWeeksOfDemand(seed + 100_000, 200 + (seed % 50 * 40), start + TimeSpan.FromDays(28));
                _demand[query.Service] = series = new RegularSeries(start, step, [.. full.Values, .. more.Values]);
            }

            var from = (int)((query.From - series.Start) / step);
            var to = (int)((query.To - series.Start) / step);
            return Task.FromResult(new RegularSeries(query.From, step, series.Values.Skip(from).Take(to - from).ToArray()));
        }
    }
}
