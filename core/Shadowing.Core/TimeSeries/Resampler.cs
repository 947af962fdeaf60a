namespace Shadowing.Core.TimeSeries;

/// <summary>What resampling did to the raw points.</summary>
/// <param name="Step">The step used (inferred unless given).</param>
/// <param name="Filled">Grid points with no observation, filled by linear interpolation.</param>
/// <param name="Merged">Grid points that received more than one observation, averaged.</param>
public sealed record ResampleReport(TimeSpan Step, int Filled, int Merged);

/// <summary>
/// Puts irregular observations on a regular grid. The step is the median gap between consecutive points
/// (rounded to the second) unless given. The grid starts at the first timestamp; each point goes to the
/// nearest grid time; several points on one grid time are averaged; grid times with no point are filled by
/// linear interpolation between the nearest observed neighbours and flagged as imputed, so that evaluation
/// can leave them out. Points are never moved by more than half a step.
/// </summary>
public static class Resampler
{
    /// <summary>Resamples <paramref name="points"/> (in time order).</summary>
    public static RegularSeries Resample(IReadOnlyList<TimeSeriesPoint> points, TimeSpan? step, out ResampleReport report)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
        {
            throw new TimeSeriesFormatException("There are no points to resample.");
        }

        var grid = step ?? InferStep(points);
        if (grid <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(step), "The step must be positive.");
        }

        var start = points[0].Time;
        var count = (int)Math.Round((points[^1].Time - start).Ticks / (double)grid.Ticks) + 1;
        var sums = new double[count];
        var counts = new int[count];
        foreach (var point in points)
        {
            var index = (int)Math.Round((point.Time - start).Ticks / (double)grid.Ticks);
            sums[index] += point.Value;
            counts[index]++;
        }

        var values = new double[count];
        var imputed = new bool[count];
        var merged = 0;
        var filled = 0;
        var previousObserved = -1;
        for (var i = 0; i < count; i++)
        {
            if (counts[i] == 0)
            {
                continue;
            }

            values[i] = sums[i] / counts[i];
            merged += counts[i] > 1 ? 1 : 0;
            if (previousObserved >= 0 && i - previousObserved > 1)
            {
                for (var j = previousObserved + 1; j < i; j++)
                {
                    var fraction = (j - previousObserved) / (double)(i - previousObserved);
                    values[j] = values[previousObserved] + ((values[i] - values[previousObserved]) * fraction);
                    imputed[j] = true;
                    filled++;
                }
            }

            previousObserved = i;
        }

        report = new ResampleReport(grid, filled, merged);
        return new RegularSeries(start, grid, values, imputed);
    }

    /// <summary>The median gap between consecutive points, rounded to the second (at least one second).</summary>
    public static TimeSpan InferStep(IReadOnlyList<TimeSeriesPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count < 2)
        {
            throw new TimeSeriesFormatException("At least two points are needed to infer the step.");
        }

        var gaps = new long[points.Count - 1];
        for (var i = 1; i < points.Count; i++)
        {
            gaps[i - 1] = (points[i].Time - points[i - 1].Time).Ticks;
        }

        Array.Sort(gaps);
        var median = gaps[(gaps.Length - 1) / 2]; // lower median: jitter must not round the step up
        var seconds = Math.Max(1, Math.Round(median / (double)TimeSpan.TicksPerSecond));
        return TimeSpan.FromSeconds(seconds);
    }
}
