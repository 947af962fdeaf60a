using System.Diagnostics;
using System.Globalization;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Embedded.State;
using Shadowing.Metrics.Router;

namespace Shadowing.Benchmarks;

/// <summary>
/// What the PAE's default metrics source costs per service and run: the router's per-minute records of one service
/// (E endpoints, every minute of D days recorded, two replicas' ids per minute, a document per endpoint and hour) in SQLite, read the way one PAE run reads
/// them for one service (requests, latency p90 and errors over <c>Pae:History</c> at 5-minute steps, mean latency over
/// the last hour), isolated: <c>pae-scale ... router</c> runs the whole PAE on such records. Each round reads with every day read in full and with settled hours kept
/// (what the PAE runs with), side by side. Usage: pae-read [endpoints, default 3] [days, default 28] [rounds, default 5]
/// </summary>
internal static class RouterHistoryRead
{
    public static async Task<int> RunAsync(string[] args)
    {
        var endpoints = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3;
        var days = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 28;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
        var end = new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero);
        var folder = Directory.CreateTempSubdirectory("pae-read-").FullName;
        try
        {
            using var store = new SqliteStateStore(Path.Combine(folder, "state.db"), TimeProvider.System);
            long bytes = 0;
            for (var d = days; d >= 1; d--)
            {
                var day = DateOnly.FromDateTime(end.AddDays(-d).UtcDateTime);
                for (var e = 0; e < endpoints; e++)
                {
                    foreach (var document in Day("orders", $"p{e}", day))
                    {
                        var json = Core.Serialization.ShadowingJson.Serialize(document);
                        bytes += json.Length;
                        await store.SaveAsync(StateKeys.Metrics("orders", $"p{e}", document.Minutes[0].Minute), json, etag: null);
                    }
                }
            }

            Console.WriteLine($"{endpoints} endpoint(s) x {days} full day(s) of per-minute records: {bytes / 1e6:F1} MB of JSON in SQLite; {Environment.ProcessorCount} cores");
            // Side by side in one run: every read in full (as before anything was kept), and the source the PAE gets, at an
            // hour past the last day's end and 5 minutes later each round, so the last day's hours from 19:00 are read at
            // every run (not settled, reused only by the queries of one run) and the others are kept.
            var full = new RouterRecordsSource(store);
            var clockTime = new RunClock(end.AddHours(1));
            var kept = new RouterRecordsSource(store, clockTime);
            var step = TimeSpan.FromMinutes(5);
            var history = TimeSpan.FromDays(days);
            var best = new Dictionary<string, double> { ["full"] = double.MaxValue, ["kept"] = double.MaxValue };
            for (var round = 1; round <= rounds; round++)
            {
                clockTime.Now += TimeSpan.FromMinutes(5); // a round is a PAE run: the next one comes at the next interval
                foreach (var (name, source) in new[] { ("full", full), ("kept", kept) })
                {
                    var allocated = GC.GetTotalAllocatedBytes(precise: true);
                    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                    var clock = Stopwatch.StartNew();
                    var sum = 0.0;
                    foreach (var (kind, span) in new[] { (MetricKind.Requests, history), (MetricKind.LatencyP90, history), (MetricKind.Errors, history), (MetricKind.LatencyMean, TimeSpan.FromHours(1)) })
                    {
                        sum += (await source.GetAsync(new MetricQuery("orders", kind, end - span, end, step))).Values.Sum();
                    }

                    var seconds = clock.Elapsed.TotalSeconds;
                    best[name] = Math.Min(best[name], seconds);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} {name}: {seconds * 1000:F0} ms wall, {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds:F0} ms CPU, {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1e6:F0} MB allocated (values sum {sum:F0})"));
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT one PAE run's reads of one service (best of {rounds}): every day read {best["full"] * 1000:F0} ms, settled hours kept {best["kept"] * 1000:F1} ms (the first round reads them all), ratio {best["kept"] / best["full"]:F4}; at the 5-minute interval reads alone fill a run at {300 / best["full"]:F0} and {300 / best["kept"]:F0} services"));
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed class RunClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>A full day of one endpoint, as two router replicas leave it (a document an hour): every minute busy, latencies spread over a few buckets.</summary>
    private static IEnumerable<EndpointMetricsDay> Day(string service, string endpoint, DateOnly day)
    {
        var start = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var buckets = new long[LatencyHistogram.BucketCount];
        for (var i = 3; i < 12; i++)
        {
            buckets[i] = 100 + i;
        }

        return Enumerable.Range(0, 24).Select(hour => new EndpointMetricsDay
        {
            Service = service,
            EndpointId = endpoint,
            Day = day,
            Hour = hour,
            Minutes = [.. Enumerable.Range(hour * 60, 60).Select(m => new EndpointMinuteRecord
            {
                Service = service, EndpointId = endpoint, Role = EndpointRole.Production, Minute = start.AddMinutes(m),
                Requests = 1000 + (m % 97), Errors = m % 7, LatencyP50Ms = 1.234, LatencyP90Ms = 2.345, LatencyP99Ms = 5.678, LatencyMeanMs = 1.5678,
                LatencyMaxMs = 40.1, InFlightPeak = 12, LatencyBuckets = buckets, RecordIds = [$"0123456789abcdef-{m}", $"fedcba9876543210-{m}"],
            })],
        });
    }
}
