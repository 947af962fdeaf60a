using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>Runs alone: it measures this process's memory, descriptors and threads.</summary>
[CollectionDefinition(nameof(SoakCollection), DisableParallelization = true)]
public sealed class SoakCollection;

/// <summary>
/// The CI version of <c>bench/soak.sh</c>: steady load through the router with a shadow mirrored to, for
/// <c>SHADOWING_SOAK_SECONDS</c> (default 120) in this process, sampling every 10 s the live managed heap (after a full,
/// compacting collection, without fragmentation: what the process keeps, not what the GC has yet to return), open
/// descriptors and threads. After the first half (the warm-up: the heap settles in about 40 s) the median of the last
/// three samples is compared with the median of the first three. The live heap swings between samples (13.6–15.4 MB),
/// so two minutes cannot resolve the script's 5 % bar: runs without a leak measured +0.9 %, +6.7 % and +7.1 %; with
/// 300 bytes deliberately kept per request +11.9 %, with 1,000 bytes +22.3 %. Here the heap may grow by less than 20 %,
/// which catches a leak of about a kilobyte per request, not smaller ones; descriptors keep the 5 % bar.
/// </summary>
[Collection(nameof(SoakCollection))]
public sealed class SoakTests
{
    private const int Workers = 8;
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);

    // Each worker sends one request per 25 ms: about 320 requests a second in all.
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(25);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SteadyLoadWithMirroring_NoRequestFails_DescriptorsGrowLessThan5Percent_NoHeapLeak()
    {
        var seconds = int.Parse(Environment.GetEnvironmentVariable("SHADOWING_SOAK_SECONDS") ?? "120", CultureInfo.InvariantCulture);
        var duration = TimeSpan.FromSeconds(seconds);
        var warmup = duration / 2;
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        p1.Record = p2.Record = s1.Record = false; // the backends would otherwise keep every request
        var table = Table.For("orders", [p1, p2]) with
        {
            Shadows = [new ShadowEndpoint { Id = "s1", Address = s1.Address.ToString(), State = ShadowState.WarmingUp, DataIsolated = true }],
            Mirror = new MirrorPolicy { Percent = 10 },
        };
        await using var router = await RouterHost.StartAsync([table]);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Workers }) { BaseAddress = router.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var stop = new CancellationTokenSource();
        long sent = 0, failed = 0;

        async Task Worker(int worker)
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await client.GetAsync(new Uri($"/orders/items/{worker}-{i++ % 1000}", UriKind.Relative), Ct);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed);
                }

                Interlocked.Increment(ref sent);
                await Task.Delay(Pace, TimeProvider.System, Ct);
            }
        }

        var load = Enumerable.Range(0, Workers).Select(w => Task.Run(() => Worker(w), Ct)).ToArray();
        var samples = new List<(TimeSpan At, long Heap, int Fds, int Threads)>();
        var pinned = new List<long>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            await Task.Delay(SampleEvery, TimeProvider.System, Ct);

            // What the router holds for the current minute and the copies' outcomes is written out first, so a sample
            // measures what it keeps, not where it stands in its minute.
            await router.App.Services.GetRequiredService<Router.Metrics.MinuteRecorder>().FlushAsync(DateTimeOffset.MaxValue, Ct);
            await router.App.Services.GetRequiredService<Router.Mirroring.OutcomeRecorder>().FlushAsync(Ct);
            using var process = Process.GetCurrentProcess();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
            pinned.Add(info.GenerationInfo[4].SizeAfterBytes);
            samples.Add((clock.Elapsed, info.GenerationInfo[..4].ToArray().Sum(g => g.SizeAfterBytes - g.FragmentationAfterBytes), Directory.GetFiles("/proc/self/fd").Length, process.Threads.Count));
        }

        await stop.CancelAsync();
        await Task.WhenAll(load);

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{sent} requests in {clock.Elapsed.TotalSeconds:F0} s ({sent / clock.Elapsed.TotalSeconds:F0}/s), {failed} failed; s1 got {s1.Requests} copies");
        output?.WriteLine("   t (s)   live heap (KiB)   pinned (KiB)   fds  threads");
        foreach (var ((at, heap, fds, threads), pin) in samples.Zip(pinned))
        {
            output?.WriteLine($"{at.TotalSeconds,8:F0} {heap / 1024,17} {pin / 1024,14} {fds,5} {threads,8}");
        }

        var after = samples.Where(s => s.At >= warmup).ToList();
        double Growth(Func<(TimeSpan At, long Heap, int Fds, int Threads), double> measure)
        {
            var first = Median(after.Take(3).Select(measure));
            var last = Median(after.TakeLast(3).Select(measure));
            return (last - first) / first * 100;
        }

        var heapGrowth = Growth(s => s.Heap);
        var fdGrowth = Growth(s => s.Fds);
        var threadGrowth = Growth(s => s.Threads);
        output?.WriteLine($"growth after the {warmup.TotalSeconds:F0} s warm-up: live heap {heapGrowth:+0.0;-0.0} %, descriptors {fdGrowth:+0.0;-0.0} %, threads {threadGrowth:+0.0;-0.0} %");
        Assert.Equal(0, failed);
        Assert.True(s1.Requests > 0, "the shadow got copies");
        Assert.True(heapGrowth < 20, $"live heap grew {heapGrowth:F1} %");
        Assert.True(fdGrowth < 5, $"descriptors grew {fdGrowth:F1} %");

        // The thread pool adds and retires workers as the machine's load changes (other test processes run beside this
        // one in CI), so threads get a looser bound here; bench/soak.sh measures them alone against 5 %.
        Assert.True(threadGrowth < 25, $"threads grew {threadGrowth:F1} %");
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
