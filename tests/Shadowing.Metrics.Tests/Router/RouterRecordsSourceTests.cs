using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Metrics.Router;
using Shadowing.TestUtilities.State;

namespace Shadowing.Metrics.Tests.Router;

public sealed class RouterRecordsSourceTests
{
    private static readonly DateTimeOffset T = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _state = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Get_Requests_SumsEndpointsAndMinutesIntoSteps()
    {
        await Day("p1", (0, 10, 20), (1, 12, 20), (5, 7, 20));
        await Day("shadow", (0, 3, 100), (6, 1, 100));

        var series = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal(T, series.Start);
        Assert.Equal([25.0, 8], series.Values);
    }

    [Fact]
    public async Task Get_LatencyP90_ComesFromMergedHistograms()
    {
        await Day("p1", (0, 90, 10));
        await Day("p2", (1, 10, 500));

        var series = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.LatencyP90, T, T.AddMinutes(5), TimeSpan.FromMinutes(5)), Ct);
        var mean = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.LatencyMean, T, T.AddMinutes(5), TimeSpan.FromMinutes(5)), Ct);

        Assert.InRange(series.Values[0], 7.5, 10); // 90 of 100 requests took 10 ms
        Assert.Equal(((90 * 10) + (10 * 500)) / 100.0, mean.Values[0], 6);
    }

    [Fact]
    public async Task Get_NoRecordsOrCpu_SaysWhy()
    {
        var source = new RouterRecordsSource(_state);

        Assert.Contains("no traffic", (await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddHours(1), TimeSpan.FromMinutes(5)), Ct))).Message, StringComparison.Ordinal);
        Assert.Contains("Prometheus or Azure Monitor", (await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Cpu, T, T.AddHours(1), TimeSpan.FromMinutes(5)), Ct))).Message, StringComparison.Ordinal);
    }

    private async Task Day(string endpoint, params (int Minute, long Requests, double LatencyMs)[] minutes)
    {
        var day = new EndpointMetricsDay { Service = "orders", EndpointId = endpoint, Day = DateOnly.FromDateTime(T.UtcDateTime) };
        foreach (var (minute, requests, latency) in minutes)
        {
            var buckets = new long[LatencyHistogram.BucketCount];
            buckets[LatencyHistogram.BucketOf(latency)] = requests;
            day = day.With(new EndpointMinuteRecord
            {
                Service = "orders",
                EndpointId = endpoint,
                Role = EndpointRole.Production,
                Minute = T.AddMinutes(minute),
                Requests = requests,
                LatencyMeanMs = latency,
                LatencyMaxMs = latency,
                LatencyBuckets = buckets,
            });
        }

        await _state.SaveJsonAsync(StateKeys.Metrics("orders", endpoint, day.Day), day, cancellationToken: Ct);
    }
}
