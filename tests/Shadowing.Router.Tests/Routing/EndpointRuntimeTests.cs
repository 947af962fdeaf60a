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
    public void ALatencyLimitAddedOrLowered_StartsTheEndpointCold_KeptOrRaised_KeepsItsEwma()
    {
        // Without a limit a sample is the whole exchange (a 3-minute WebSocket session): judged by those once a 250 ms limit
        // was set, the endpoint stayed "overloaded" for about 19 rechecks.
        var registry = new EndpointRegistry(Microsoft.Extensions.Options.Options.Create(new Shadowing.Router.RouterOptions { LatencyMinSamples = 1 }), new FakeTimeProvider());
        var runtime = registry.Get("orders", "p1", "http://127.0.0.1:1", EndpointRole.Production);
        runtime.ObserveLatency(180_000);

        Assert.Same(runtime, registry.Get("orders", "p1", "http://127.0.0.1:1", EndpointRole.Production, maxLatencyMs: 250));
        Assert.Null(runtime.LatencyEwmaMs);
        runtime.ObserveLatency(40);
        registry.Get("orders", "p1", "http://127.0.0.1:1", EndpointRole.Production, maxLatencyMs: 250); // every poll recompiles
        Assert.Equal(40, runtime.LatencyEwmaMs);
        registry.Get("orders", "p1", "http://127.0.0.1:1", EndpointRole.Production, maxLatencyMs: 500);
        Assert.Equal(40, runtime.LatencyEwmaMs);
        registry.Get("orders", "p1", "http://127.0.0.1:1", EndpointRole.Production, maxLatencyMs: 100);
        Assert.Null(runtime.LatencyEwmaMs);
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
    public void OneSlowAnswer_DoesNotTakeTheEndpointOverItsThreshold_TwoInARowDo()
    {
        // 40 ms steady under a 250 ms threshold, then one answer of 10 s: uncapped, the EWMA read about 3 s and took eight
        // rechecks (40 s) to come back under; capped at twice the threshold, one outlier leaves it under.
        var runtime = Runtime(minSamples: 1, alpha: 0.3);
        var endpoint = new RoutedEndpoint("o1", EndpointRole.Production, Core.Endpoints.EndpointAddress.Parse("http://127.0.0.1:1"), null, 250, runtime, null!);
        endpoint.ObserveLatency(40);

        endpoint.ObserveLatency(10_000);
        Assert.Equal((0.3 * 500) + (0.7 * 40), runtime.LatencyEwmaMs!.Value, 6);

        endpoint.ObserveLatency(10_000);
        Assert.True(runtime.LatencyEwmaMs > 250);
        endpoint.ObserveLatency(40);
        endpoint.ObserveLatency(40);
        Assert.True(runtime.LatencyEwmaMs <= 250);

        // Without a threshold nothing is capped.
        var unbounded = Runtime(minSamples: 1, alpha: 0.3);
        new RoutedEndpoint("o2", EndpointRole.Production, Core.Endpoints.EndpointAddress.Parse("http://127.0.0.1:1"), null, null, unbounded, null!).ObserveLatency(10_000);
        Assert.Equal(10_000, unbounded.LatencyEwmaMs);
    }

    [Fact]
    public void OverItsLatencyThreshold_OneRequestPerRecheckInterval_GoesAndMeasuresIt_UntilItIsBackUnder()
    {
        var time = new FakeTimeProvider();
        var runtime = Runtime(minSamples: 1, alpha: 0.5, time);
        var endpoint = new RoutedEndpoint("o1", EndpointRole.Production, Core.Endpoints.EndpointAddress.Parse("http://127.0.0.1:1"), null, 250, runtime, null!);
        runtime.ObserveLatency(400);

        Assert.Equal(400, endpoint.Load.LatencyEwmaMs); // just found over: no recheck yet
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(400, endpoint.Load.LatencyEwmaMs);
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Null(endpoint.Load.LatencyEwmaMs); // one decision sees it as unjudged: one request goes
        Assert.Equal(400, endpoint.Load.LatencyEwmaMs); // the next does not

        // The request finds it fast again; the next recheck brings it under its threshold.
        runtime.ObserveLatency(20);
        Assert.Equal(210, endpoint.Load.LatencyEwmaMs);

        // Slow again: its first recheck is an interval from now, not at once.
        runtime.ObserveLatency(600);
        Assert.Equal(405, endpoint.Load.LatencyEwmaMs);
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(405, endpoint.Load.LatencyEwmaMs);
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Null(endpoint.Load.LatencyEwmaMs);
    }

    [Fact]
    public void OverItsLatencyThreshold_AndAtItsConcurrencyLimit_DoesNotSpendTheRecheck()
    {
        var time = new FakeTimeProvider();
        var runtime = Runtime(minSamples: 1, alpha: 0.5, time);
        var endpoint = new RoutedEndpoint("o1", EndpointRole.Production, Core.Endpoints.EndpointAddress.Parse("http://127.0.0.1:1"), 1, 250, runtime, null!);
        runtime.ObserveLatency(400);
        Assert.Equal(400, endpoint.Load.LatencyEwmaMs);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(runtime.TryEnter(1));

        Assert.Equal(400, endpoint.Load.LatencyEwmaMs); // full: it could not take the recheck's request

        runtime.Exit();
        Assert.Null(endpoint.Load.LatencyEwmaMs);
    }

    private static EndpointRuntime Runtime(int minSamples, double alpha = 0.3, FakeTimeProvider? time = null) => new(
        "orders",
        "o1",
        "http://127.0.0.1:1",
        EndpointRole.Production,
        new EndpointHealth(new ActiveHealthCheckOptions(), new OutlierDetectionOptions()),
        time ?? new FakeTimeProvider(),
        alpha,
        minSamples,
        TimeSpan.FromSeconds(5));
}
