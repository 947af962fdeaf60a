using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Shadowing.Benchmarks;

// Short runs: these machines are shared, so the figure to trust is the ratio printed below, not a threshold.
var config = DefaultConfig.Instance.AddJob(Job.ShortRun).WithOptions(ConfigOptions.DisableOptimizationsValidator);
var summary = BenchmarkRunner.Run<ForecastBenchmarks>(config, args);
foreach (var report in summary.Reports.Where(r => r.ResultStatistics is not null))
{
    var milliseconds = report.ResultStatistics!.Mean / 1e6;
    Console.WriteLine($"RESULT {report.BenchmarkCase.Descriptor.WorkloadMethod.Name}: {milliseconds:F3} ms per forecast = {milliseconds / 50:F4} x the 50 ms budget");
}
