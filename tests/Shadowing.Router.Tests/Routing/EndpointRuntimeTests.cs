using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Health;
using Shadowing.Core.Routing;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Tests.Routing;

public sealed class EndpointRuntimeTests
{
    [Fact]
    public void LatencyEwma_BeforeMinSamples_IsNotJudged_ThenStartsFromTheirMedian()
    {
        var runtime = Runtime(minSamples: 5);

        foreach (var sample in new[] { 1800.0, 20, 22, 18 })
        {
            runtime.ObserveLatency(sample);
            Assert.Null(runtime.LatencyEwmaMs);
        }

        runtime.ObserveLatency(21);

        Assert.Equal(21, runtime.LatencyEwmaMs); // median of 1800, 20, 22, 18, 21: the cold first answer does not count
    }

    [Fact]
    public void LatencyEwma_AfterSeed_FoldsEachSampleWithAlpha()
    {
        var runtime = Runtime(minSamples: 1, alpha: 0.5);
        runtime.ObserveLatency(100);

        runtime.ObserveLatency(50);

        Assert.Equal(75, runtime.LatencyEwmaMs);
    }

    [Fact]
    public void ProbeLatency_BeforeTrafficSeededTheEwma_IsIgnored()
    {
        var runtime = Runtime(minSamples: 2, alpha: 0.5);

        runtime.ObserveProbeLatency(1700); // the first probe meets a cold endpoint
        runtime.ObserveLatency(10);
        runtime.ObserveLatency(30);

        Assert.Equal(30, runtime.LatencyEwmaMs); // the upper median of 10 and 30; the probe is not in it
    }

    [Fact]
    public void ProbeLatency_AfterTrafficSeededTheEwma_IsFolded()
    {
        var runtime = Runtime(minSamples: 1, alpha: 0.5);
        runtime.ObserveLatency(1000);

        runtime.ObserveProbeLatency(10); // slow endpoint, no traffic any more: probes show it recovering

        Assert.Equal(505, runtime.LatencyEwmaMs);
    }

    private static EndpointRuntime Runtime(int minSamples, double alpha = 0.3) => new(
        "orders",
        "o1",
        "http://127.0.0.1:1",
        EndpointRole.Production,
        new EndpointHealth(new ActiveHealthCheckOptions(), new OutlierDetectionOptions()),
        new FakeTimeProvider(),
        alpha,
        minSamples);
}
