using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Planning;
using Shadowing.Metrics.Router;

namespace Shadowing.Benchmarks;

/// <summary>
/// The PAE over many services on the embedded SQLite store, at the default settings (5-minute steps, 28 days of
/// history, 2-hour horizon, daily retraining): runs (ticks) until every service has a trained model, then ticks with
/// every model cached, printing time and memory per tick and per service. Demand comes from an in-memory source of
/// generated series, or with <c>router</c> from the router's per-minute records of that demand written to the store
/// first (split over E endpoints per service, a document per endpoint and hour, about 14 MB of JSON per endpoint: keep
/// the count in the hundreds), read through the PAE's default <see cref="RouterRecordsSource"/>; the state the PAE reads
/// and writes (tables, forecasts, scoreboards, status, requests) is in SQLite. Records are written a day past the
/// clock, so the hour a run is in is read full, where a router would have written its minutes so far.
/// Usage: pae-scale [services, default 1000] [training budget per run, or - for the PAE's (Pae:TrainingBudget)] [generated|router] [endpoints, default 3]
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
        if (args.Length > 1 && args[1] != "-")
        {
            // Only how the first training spreads over runs; time per model, the cached tick and memory do not depend on it.
            options.TrainingBudget = TimeSpan.Parse(args[1], CultureInfo.InvariantCulture);
        }

        var source = args.Length > 2 ? args[2] : "generated";
        var endpoints = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
        if (source is not ("generated" or "router"))
        {
            Console.Error.WriteLine($"unknown demand source '{source}': use generated or router");
            return 2;
        }

        var generated = new GeneratedMetrics(clock.GetUtcNow() - options.History);
        for (var i = 0; i < services; i++)
        {
            var name = $"svc-{i:D4}";
            await tables.PutAsync(new RoutingTable { Service = name, Production = [new ProductionEndpoint { Id = name + "-1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }] });
            options.EndpointCapacity[name] = 10_000; // requests per minute: no shadow requests, the PAE's own work only
            if (source == "router")
            {
                await RecordAsync(store, generated, name, endpoints, clock.GetUtcNow() - options.History, clock.GetUtcNow() + TimeSpan.FromDays(1));
            }
        }

        IMetricsSource metrics = source == "router" ? new RouterRecordsSource(store, clock) : generated;
        var pae = new DemandForecastService(tables, metrics, store, new ShadowRequestStore(store, bus), new PublicHolidayCalendar("US"), Options.Create(options), clock, NullLogger<DemandForecastService>.Instance);
        Console.WriteLine($"{services} services, {options.History.TotalDays} days of {options.Step.TotalMinutes}-minute history each ({(source == "router" ? $"the router's per-minute records of {endpoints} endpoint(s) a service in SQLite, {new FileInfo(Path.Combine(folder, "state.db")).Length / 1e6:F0} MB state file" : "generated in memory")}), horizon {options.Horizon.TotalHours} h, training budget {options.TrainingBudget} per run; {Environment.ProcessorCount} cores");
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

    /// <summary>
    /// Writes what a router would have recorded of <paramref name="service"/>'s generated demand from <paramref name="from"/>
    /// to <paramref name="to"/>, split evenly over <paramref name="endpoints"/> endpoints: each 5-minute step's requests spread
    /// over its minutes, one error in a hundred, every latency in one bucket; a document per endpoint and hour, a day of an
    /// endpoint to a transaction.
    /// </summary>
    private static async Task RecordAsync(SqliteStateStore store, GeneratedMetrics generated, string service, int endpoints, DateTimeOffset from, DateTimeOffset to)
    {
        var demand = await generated.GetAsync(new MetricQuery(service, MetricKind.Requests, from, to, TimeSpan.FromMinutes(5)));
        for (var e = 1; e <= endpoints; e++)
        {
            await RecordAsync(store, demand, service, $"{service}-{e}", endpoints);
        }
    }

    private static async Task RecordAsync(SqliteStateStore store, RegularSeries demand, string service, string endpoint, int endpoints)
    {
        var hours = new List<StateOperation>();
        var minutes = new List<EndpointMinuteRecord>();
        for (var i = 0; i < demand.Count; i++)
        {
            var perStep = (long)Math.Round(demand.Values[i] / endpoints);
            for (var m = 0; m < 5; m++)
            {
                var requests = (perStep / 5) + (m < perStep % 5 ? 1 : 0);
                var buckets = new long[LatencyHistogram.BucketCount];
                buckets[LatencyHistogram.BucketOf(20)] = requests;
                minutes.Add(new EndpointMinuteRecord
                {
                    Service = service, EndpointId = endpoint, Role = EndpointRole.Production, Minute = demand.Start + (demand.Step * i) + TimeSpan.FromMinutes(m),
                    Requests = requests, Errors = requests / 100, LatencyP50Ms = 20, LatencyP90Ms = 20, LatencyP99Ms = 20, LatencyMeanMs = 20, LatencyMaxMs = 20,
                    InFlightPeak = 4, LatencyBuckets = buckets, RecordIds = [$"0123456789abcdef-{minutes.Count}"],
                });
            }

            if (minutes.Count == 60)
            {
                var start = minutes[0].Minute;
                var document = new EndpointMetricsDay { Service = service, EndpointId = endpoint, Day = DateOnly.FromDateTime(start.UtcDateTime), Hour = start.Hour, Minutes = [.. minutes] };
                hours.Add(new UpsertOperation(StateKeys.Metrics(service, endpoint, start), ShadowingJson.Serialize(document), ETag: null));
                minutes.Clear();
            }

            if (hours.Count == 24 || (i == demand.Count - 1 && hours.Count > 0))
            {
                await store.TransactAsync(hours);
                hours.Clear();
            }
        }
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
