using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;

namespace Shadowing.Core.Tests.Metrics;

public sealed class LatencyHistogramTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(0.5, 0)]
    [InlineData(0.6, 1)]
    [InlineData(10, 6)]
    [InlineData(10.1, 7)]
    [InlineData(10_000, 24)]
    [InlineData(50_000, 25)]
    public void BucketOf_UsesInclusiveUpperBounds(double ms, int bucket)
    {
        Assert.Equal(bucket, LatencyHistogram.BucketOf(ms));
    }

    [Fact]
    public void Percentile_UniformWithinOneBucket_Interpolates()
    {
        var counts = new long[LatencyHistogram.BucketCount];
        counts[LatencyHistogram.BucketOf(15)] = 100; // (10, 15]

        Assert.Equal(12.5, LatencyHistogram.Percentile(counts, 0.5, 15), 6);
        Assert.Equal(15, LatencyHistogram.Percentile(counts, 1, 15), 6);
    }

    [Fact]
    public void Percentile_Empty_IsZero()
    {
        Assert.Equal(0, LatencyHistogram.Percentile(new long[LatencyHistogram.BucketCount], 0.9, 0));
    }

    [Fact]
    public void Percentile_OpenLastBucket_CappedByMax()
    {
        var counts = new long[LatencyHistogram.BucketCount];
        counts[^1] = 10;

        Assert.Equal(20_000, LatencyHistogram.Percentile(counts, 1, 20_000), 6);
    }

    [Fact]
    public void Merge_SameMinute_AddsCountsAndRecomputesPercentiles()
    {
        var minute = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        var a = Record(minute, requests: 10, errors: 1, latency: 4, peak: 3);
        var b = Record(minute, requests: 30, errors: 0, latency: 40, peak: 5);

        var merged = a.Merge(b);

        Assert.Equal(40, merged.Requests);
        Assert.Equal(1, merged.Errors);
        Assert.Equal(5, merged.InFlightPeak);
        Assert.Equal(31, merged.LatencyMeanMs, 6);
        Assert.True(merged.LatencyP50Ms > 30 && merged.LatencyP50Ms <= 50);
        Assert.True(merged.LatencyP90Ms <= 50);
    }

    [Fact]
    public void With_RecordForExistingMinute_MergesInsteadOfDuplicating()
    {
        var minute = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        var day = new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = new DateOnly(2026, 11, 26) };

        day = day.With(Record(minute.AddMinutes(1), 1, 0, 1, 1)).With(Record(minute, 1, 0, 1, 1)).With(Record(minute, 2, 0, 1, 1));

        Assert.Equal([minute, minute.AddMinutes(1)], day.Minutes.Select(m => m.Minute));
        Assert.Equal(3, day.Minutes[0].Requests);
    }

    [Fact]
    public void With_RecordAlreadyMerged_ByItsId_LeavesTheDayUnchanged()
    {
        // A write whose answer was lost is retried: the same record must not count twice, another replica's must.
        var minute = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        var day = new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = new DateOnly(2026, 11, 26) };
        var first = Record(minute, 3, 0, 1, 1) with { RecordIds = ["a-1"] };
        var second = Record(minute, 2, 0, 1, 1) with { RecordIds = ["b-1"] };

        day = day.With(first).With(second).With(first).With(second);

        var merged = Assert.Single(day.Minutes);
        Assert.Equal(5, merged.Requests);
        Assert.Equal(["a-1", "b-1"], merged.RecordIds);
        Assert.Equal(10, day.With(Record(minute, 5, 0, 1, 1)).Minutes[0].Requests); // records without ids merge as before
    }

    private static EndpointMinuteRecord Record(DateTimeOffset minute, long requests, long errors, double latency, int peak)
    {
        var buckets = new long[LatencyHistogram.BucketCount];
        buckets[LatencyHistogram.BucketOf(latency)] = requests;
        return new EndpointMinuteRecord
        {
            Service = "orders",
            EndpointId = "p1",
            Role = EndpointRole.Production,
            Minute = minute,
            Requests = requests,
            Errors = errors,
            LatencyMeanMs = latency,
            LatencyMaxMs = latency,
            InFlightPeak = peak,
            LatencyBuckets = buckets,
        };
    }
}
