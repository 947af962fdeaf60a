using System.Diagnostics;
using System.Globalization;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.Embedded.State;

namespace Shadowing.Benchmarks;

/// <summary>
/// What the router's minute flush costs the store over a day: every minute of one UTC day, each endpoint's record is
/// merged into its stored document the way <c>MinuteRecorder</c> does it (read, <see cref="EndpointMetricsDay.With"/>,
/// write back with the ETag), in SQLite. Side by side in one run: a document per endpoint and day (the layout before,
/// rewritten whole every minute, about 0.6 MB by the day's end) and per endpoint and hour (the layout now).
/// Usage: metrics-write [endpoints, default 2]
/// </summary>
internal static class MetricsWrite
{
    public static async Task<int> RunAsync(string[] args)
    {
        var endpoints = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2;
        var day = new DateOnly(2026, 11, 28);
        var start = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var results = new Dictionary<string, (double Seconds, double CpuSeconds, long Written)>();
        Console.WriteLine($"{endpoints} endpoint(s), 1,440 minute flushes each, SQLite; {Environment.ProcessorCount} cores");

        // Interleaved twice, so neither layout always runs on a colder process; the better of the two counts.
        foreach (var layout in new[] { "day", "hour", "day", "hour" })
        {
            var folder = Directory.CreateTempSubdirectory("metrics-write-").FullName;
            try
            {
                using var store = new SqliteStateStore(Path.Combine(folder, "state.db"), TimeProvider.System);
                long written = 0;
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                for (var m = 0; m < 1440; m++)
                {
                    for (var e = 0; e < endpoints; e++)
                    {
                        var record = Record("orders", $"p{e}", start.AddMinutes(m), m);
                        var key = layout == "day" ? StateKeys.WholeDayMetrics("orders", record.EndpointId, day) : StateKeys.Metrics("orders", record.EndpointId, record.Minute);
                        await store.UpdateJsonAsync<EndpointMetricsDay>(
                            key,
                            current => (current ?? new EndpointMetricsDay { Service = "orders", EndpointId = record.EndpointId, Day = day, Hour = layout == "day" ? null : record.Minute.Hour }).With(record));
                    }
                }

                var seconds = clock.Elapsed.TotalSeconds;
                var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;

                // What was written, untimed: each flush's document as serialized (SQLite stores the JSON as sent).
                foreach (var key in await store.ListKeysAsync(StateKeys.MetricsOn("orders", day)))
                {
                    var document = (await store.GetJsonAsync<EndpointMetricsDay>(key))!.Value;
                    for (var n = 1; n <= document.Minutes.Count; n++)
                    {
                        written += ShadowingJson.Serialize(document with { Minutes = document.Minutes.Take(n).ToArray() }).Length;
                    }
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{layout} documents: {seconds:F2} s wall, {cpuSeconds:F2} s CPU, {written / 1e6:F1} MB written"));
                if (!results.TryGetValue(layout, out var best) || seconds < best.Seconds)
                {
                    results[layout] = (seconds, cpuSeconds, written);
                }
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        var (d, h) = (results["day"], results["hour"]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT a day of minute flushes per endpoint: a document per day {d.Seconds / endpoints * 1000:F0} ms ({d.CpuSeconds / endpoints * 1000:F0} ms CPU, {d.Written / endpoints / 1e6:F0} MB written), per hour {h.Seconds / endpoints * 1000:F0} ms ({h.CpuSeconds / endpoints * 1000:F0} ms CPU, {h.Written / endpoints / 1e6:F1} MB written); time ratio {h.Seconds / d.Seconds:F3}, bytes ratio {(double)h.Written / d.Written:F3}"));
        return 0;
    }

    /// <summary>One router replica's record of a busy minute, latencies over a few buckets (as in pae-read).</summary>
    private static EndpointMinuteRecord Record(string service, string endpoint, DateTimeOffset minute, int m)
    {
        var buckets = new long[LatencyHistogram.BucketCount];
        for (var i = 3; i < 12; i++)
        {
            buckets[i] = 100 + i;
        }

        return new EndpointMinuteRecord
        {
            Service = service, EndpointId = endpoint, Role = EndpointRole.Production, Minute = minute,
            Requests = 1000 + (m % 97), Errors = m % 7, LatencyP50Ms = 1.234, LatencyP90Ms = 2.345, LatencyP99Ms = 5.678, LatencyMeanMs = 1.5678,
            LatencyMaxMs = 40.1, InFlightPeak = 12, LatencyBuckets = buckets, RecordIds = [$"0123456789abcdef-{m}"],
        };
    }
}
