namespace Shadowing.Core.Metrics;

/// <summary>
/// Fixed latency buckets shared by the router's per-minute records and everything that reads them, so records
/// from several routers or minutes can be merged by adding counts and percentiles recomputed from the sum.
/// </summary>
public static class LatencyHistogram
{
    /// <summary>Upper bounds (inclusive, ms) of every bucket but the last, which is unbounded.</summary>
    public static IReadOnlyList<double> BoundariesMs { get; } =
    [
        0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000,
    ];

    /// <summary>Number of buckets, one more than <see cref="BoundariesMs"/>.</summary>
    public static int BucketCount => BoundariesMs.Count + 1;

    /// <summary>The bucket a latency falls in.</summary>
    public static int BucketOf(double latencyMs)
    {
        var bounds = BoundariesMs;
        var lo = 0;
        var hi = bounds.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (latencyMs <= bounds[mid])
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    /// <summary>
    /// Estimates the <paramref name="quantile"/> (0..1) from bucket counts by linear interpolation inside the
    /// bucket; the open last bucket is capped at <paramref name="maxMs"/>. Returns 0 for an empty histogram.
    /// </summary>
    public static double Percentile(IReadOnlyList<long> counts, double quantile, double maxMs)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentOutOfRangeException.ThrowIfLessThan(quantile, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1);
        long total = 0;
        foreach (var c in counts)
        {
            total += c;
        }

        if (total == 0)
        {
            return 0;
        }

        var rank = quantile * total;
        long seen = 0;
        for (var i = 0; i < counts.Count; i++)
        {
            if (counts[i] == 0)
            {
                continue;
            }

            if (seen + counts[i] >= rank)
            {
                var lower = i == 0 ? 0 : BoundariesMs[i - 1];
                var upper = i < BoundariesMs.Count ? Math.Min(BoundariesMs[i], Math.Max(maxMs, lower)) : Math.Max(maxMs, lower);
                var fraction = (rank - seen) / counts[i];
                return lower + ((upper - lower) * fraction);
            }

            seen += counts[i];
        }

        return maxMs;
    }
}
