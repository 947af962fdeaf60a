using Shadowing.Core.Randomness;
using Shadowing.Core.TimeSeries;

namespace Shadowing.TestUtilities.Data;

/// <summary>Generated demand series with known structure, for tests that must not depend on ../shared/data.</summary>
public static class SyntheticSeries
{
    /// <summary>
    /// Demand around <paramref name="level"/>: a daily cycle (low at night, peaks at 09:00 and 18:00), weekends at
    /// 60 %, an optional multiplier by time (holidays, campaigns), and multiplicative Gaussian noise.
    /// </summary>
    public static RegularSeries Demand(DateTimeOffset start, TimeSpan step, int count, int seed, double noise = 0.05, Func<DateTimeOffset, double>? multiplier = null, double level = 1000)
    {
        var random = RandomSource.Seeded(seed);
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            var time = start + (step * i);
            values[i] = Math.Max(0, level * Shape(time) * (multiplier?.Invoke(time) ?? 1) * (1 + (noise * Gaussian(random))));
        }

        return new RegularSeries(start, step, values);
    }

    /// <summary>
    /// A random walk from <paramref name="level"/> (Gaussian steps of <paramref name="stepSd"/>, kept above a tenth of the
    /// level) plus white noise of <paramref name="noiseSd"/>: no daily or weekly cycle to learn, so the last value is as
    /// good a forecast as there is and a model can only add error.
    /// </summary>
    public static RegularSeries RandomWalk(DateTimeOffset start, TimeSpan step, int count, int seed, double stepSd = 20, double noiseSd = 2, double level = 1000)
    {
        var random = RandomSource.Seeded(seed);
        var values = new double[count];
        var walk = level;
        for (var i = 0; i < count; i++)
        {
            walk = Math.Max(level / 10, walk + (stepSd * Gaussian(random)));
            values[i] = Math.Max(0, walk + (noiseSd * Gaussian(random)));
        }

        return new RegularSeries(start, step, values);
    }

    /// <summary>The noiseless shape: daily cycle times the weekend factor.</summary>
    public static double Shape(DateTimeOffset time)
    {
        var hour = time.UtcDateTime.TimeOfDay.TotalHours;
        var daily = 0.3 + (0.7 * Math.Exp(-Math.Pow(hour - 9, 2) / 6)) + (0.6 * Math.Exp(-Math.Pow(hour - 18, 2) / 8));
        var weekend = time.UtcDateTime.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 0.6 : 1.0;
        return daily * weekend;
    }

    /// <summary>Writes a series as a <c>timestamp,value</c> CSV.</summary>
    public static void WriteCsv(RegularSeries series, string path)
    {
        ArgumentNullException.ThrowIfNull(series);
        using var writer = new StreamWriter(path);
        writer.WriteLine("timestamp,value");
        for (var i = 0; i < series.Count; i++)
        {
            writer.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{series.TimeAt(i).UtcDateTime:yyyy-MM-dd HH:mm:ss},{series.Values[i]:F3}"));
        }
    }

    private static double Gaussian(IRandomSource random)
    {
        // Box–Muller.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
