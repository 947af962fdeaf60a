using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Shadowing.Benchmarks;

// Usage: dotnet run -c Release --project bench/Shadowing.Benchmarks -- forecast|router [BenchmarkDotNet options]
//        dotnet run -c Release --project bench/Shadowing.Benchmarks -- pae-scale [services] [training budget per run, e.g. 00:30:00, or -] [generated|router] [endpoints]
//        dotnet run -c Release --project bench/Shadowing.Benchmarks -- data-sync [keys] [changed share]
//        dotnet run -c Release --project bench/Shadowing.Benchmarks -- pae-read [endpoints] [days] [rounds]
//        dotnet run -c Release --project bench/Shadowing.Benchmarks -- metrics-write [endpoints]
// Short runs: these machines are shared, so the figure to trust is a ratio measured in one run, not a threshold.
var suite = args.FirstOrDefault() ?? "forecast";
var options = args.Skip(1).ToArray();
var config = DefaultConfig.Instance.AddJob(Job.ShortRun).WithOptions(ConfigOptions.DisableOptimizationsValidator);
switch (suite)
{
    case "forecast":
        var summary = BenchmarkRunner.Run<ForecastBenchmarks>(config, options);
        foreach (var report in summary.Reports.Where(r => r.ResultStatistics is not null))
        {
            var milliseconds = report.ResultStatistics!.Mean / 1e6;
            Console.WriteLine($"RESULT {report.BenchmarkCase.Descriptor.WorkloadMethod.Name}: {milliseconds:F3} ms per forecast = {milliseconds / 50:F4} x the 50 ms budget");
        }

        return 0;
    case "pae-scale":
        return await PaeScale.RunAsync(options);
    case "data-sync":
        return await DataSyncBytes.RunAsync(options);
    case "pae-read":
        return await RouterHistoryRead.RunAsync(options);
    case "metrics-write":
        return await MetricsWrite.RunAsync(options);
    case "router":
        var router = BenchmarkRunner.Run<RouterBenchmarks>(config, options);
        foreach (var report in router.Reports.Where(r => r.ResultStatistics is not null))
        {
            var allocated = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) ?? 0;
            Console.WriteLine($"RESULT {report.BenchmarkCase.Descriptor.WorkloadMethod.Name}: {report.ResultStatistics!.Mean:F1} ns, {allocated} B allocated per call");
        }

        return 0;
    default:
        Console.Error.WriteLine($"unknown suite '{suite}': use forecast, router, pae-scale, pae-read, metrics-write or data-sync");
        return 2;
}
