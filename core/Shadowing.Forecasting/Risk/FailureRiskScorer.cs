using System.ComponentModel.DataAnnotations;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Forecasting.Risk;

/// <summary>Settings of <see cref="FailureRiskScorer"/> (section <c>Pae:Risk</c>).</summary>
public sealed class RiskOptions
{
    /// <summary>
    /// No alarm in this first share of the history scored (NAB's probationary period: the scale of "normal" is still
    /// being learnt). Default 0.15, NAB's convention.
    /// </summary>
    [Range(0.0, 0.9)]
    public double WarmUpShare { get; set; } = 0.15;

    /// <summary>
    /// Compare each value with the same time of day and week before (true), or only with the values just before it
    /// (false: a plain rolling robust z-score, the baseline the seasonal scorer is measured against). Default true.
    /// </summary>
    public bool Seasonal { get; set; } = true;

    /// <summary>
    /// Window of the rolling median that smooths the z-score, so single spikes do not count. Default 60 min (this and
    /// <see cref="ZThreshold"/> and <see cref="Persistence"/> are what <see cref="RiskEvaluation"/>'s procedure
    /// chooses on the 14 labelled NAB series; each series' reported score uses settings chosen without it).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan Smoothing { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>Window of past residuals whose median and MAD scale the z-score. Default 2 days.</summary>
    [Range(typeof(TimeSpan), "00:10:00", "30.00:00:00")]
    public TimeSpan ScaleWindow { get; set; } = TimeSpan.FromDays(2);

    /// <summary>Smoothed |z| at which the score is 0.5. Default 4.</summary>
    [Range(0.5, 100)]
    public double ZThreshold { get; set; } = 4;

    /// <summary>How long the score must stay at or above 0.5 to raise the alarm. Default 30 min.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan Persistence { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The alarm clears when the score falls below this. Default 0.2.</summary>
    [Range(0.0, 0.5)]
    public double ClearScore { get; set; } = 0.2;
}

/// <summary>Failure risk of every step of a series: a score in [0, 1] and an alarm flag.</summary>
public sealed record RiskSeries(IReadOnlyList<double> Scores, IReadOnlyList<bool> Alarms);

/// <summary>
/// Causal failure-risk scoring of a metric (latency, error rate, CPU, memory, demand): every score uses only
/// values at or before its step.
/// <list type="number">
/// <item>Expected value: the median of the same time of day over the previous 7 days (needs 3), and the
/// median of the same time of week over the previous 3 weeks (needs 1).</item>
/// <item>Robust z-score of the residual against each expectation: (residual − median) / (1.4826 × MAD) over the
/// residuals of the last <see cref="RiskOptions.ScaleWindow"/>; where the MAD is 0 (at least half the residuals equal,
/// as in a metric that is mostly 0) 1.2533 × the mean absolute deviation instead (Iglewicz and Hoaglin's modified
/// z-score), and either floored at 1% of the recent level and at a minimum scale the caller gives (one event per step
/// for counts), so that flat or mostly-zero metrics do not produce huge z-scores. Of the daily and weekly z-scores the one closer to zero is kept:
/// a value is only surprising if neither pattern explains it.</item>
/// <item>The median of that z over the last <see cref="RiskOptions.Smoothing"/>, so that isolated spikes do not count
/// but a level shift does; score = logistic(|z| − <see cref="RiskOptions.ZThreshold"/>).</item>
/// <item>Alarm once the score has been at least 0.5 for <see cref="RiskOptions.Persistence"/>, cleared when it falls
/// below <see cref="RiskOptions.ClearScore"/>; never during the first <see cref="RiskOptions.WarmUpShare"/> of the series.</item>
/// </list>
/// Several metrics combine by taking, per step, the highest score (<see cref="Combine"/>).
/// </summary>
public sealed class FailureRiskScorer(RiskOptions options)
{
    /// <summary>Scores every step of <paramref name="series"/>.</summary>
    /// <param name="series">The metric.</param>
    /// <param name="minScale">The least spread a residual is measured against (see <see cref="ScoreLatest"/>).</param>
    public RiskSeries Score(RegularSeries series, double minScale = 0) => Decide(series, Surprise(series, 0, minScale));

    /// <summary>
    /// Scores only the last <paramref name="tail"/> of <paramref name="series"/> (earlier steps score 0), using the
    /// whole series as history: what a live run needs, since it reads the latest score and alarm. The z-scores are the
    /// expensive part (a median over the scale window per step), so a day's tail of 28 days of history costs about a
    /// 28th. The alarm over the tail is the full score's: when the tail starts with the score at or above
    /// <see cref="RiskOptions.ClearScore"/> (an older alarm could still be on), it reaches back another tail.
    /// </summary>
    /// <param name="series">The metric.</param>
    /// <param name="tail">How much of its end to score.</param>
    /// <param name="minScale">The least spread a residual is measured against, in the metric's units: 1 for counts (a
    /// count cannot deviate by less than one event), 0 for measures.</param>
    public RiskSeries ScoreLatest(RegularSeries series, TimeSpan tail, double minScale = 0)
    {
        ArgumentNullException.ThrowIfNull(series);
        var tailSteps = Steps(series, tail, 1);
        var smoothing = Steps(series, options.Smoothing, 1);
        for (var from = series.Count - tailSteps; ; from -= tailSteps)
        {
            // Where the tail's first score is below ClearScore, any older alarm would clear there too, so the alarm from
            // then on is the full score's; otherwise reach back another tail.
            var first = Math.Max(0, from - smoothing);
            var risk = Decide(series, Surprise(series, first, minScale), first);
            var start = Math.Max(0, from);
            if (from <= 0 || risk.Scores[start] < options.ClearScore)
            {
                return risk;
            }
        }
    }

    /// <summary>
    /// The robust z-score of every step against what the series' own history expected (0 where there is not enough
    /// history): steps 1 and 2 of the method, which do not depend on the threshold, smoothing or persistence.
    /// </summary>
    public double[] Surprise(RegularSeries series) => Surprise(series, 0, 0);

    private double[] Surprise(RegularSeries series, int first, double minScale)
    {
        ArgumentNullException.ThrowIfNull(series);
        var values = series.Span.ToArray();
        var perDay = Math.Max(1, series.StepsIn(TimeSpan.FromDays(1)));
        var seasonal = options.Seasonal && series.StepsIn(TimeSpan.FromDays(1)) >= 2;
        var scaleWindow = Steps(series, options.ScaleWindow, 2);
        var daily = seasonal ? ZScores(values, i => Refs(values, i, perDay, 7), minRefs: 3, scaleWindow, perDay, first, minScale) : null;
        var weekly = seasonal ? ZScores(values, i => Refs(values, i, perDay * 7, 3), minRefs: 1, scaleWindow, perDay, first, minScale) : null;
        var rolling = seasonal ? null : ZScores(values, i => Window(values, i, scaleWindow), minRefs: 3, scaleWindow, scaleWindow, first, minScale);

        var combined = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            combined[i] = seasonal ? Closer(daily![i], weekly![i]) : rolling![i] ?? 0;
        }

        return combined;
    }

    /// <summary>Steps 3 and 4: smooths <paramref name="surprise"/> (from <see cref="Surprise(RegularSeries)"/>), scores it and raises and clears the alarm.</summary>
    public RiskSeries Decide(RegularSeries series, IReadOnlyList<double> surprise) => Decide(series, surprise, 0);

    private RiskSeries Decide(RegularSeries series, IReadOnlyList<double> surprise, int first)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(surprise);
        var smoothing = Steps(series, options.Smoothing, 1);
        var persistence = Steps(series, options.Persistence, 1);
        var warmUp = (int)(options.WarmUpShare * surprise.Count);
        var scores = new double[surprise.Count];
        var alarms = new bool[surprise.Count];
        var window = new double[smoothing];
        var alarm = false;
        var run = 0;
        for (var i = first; i < surprise.Count; i++)
        {
            var count = Math.Min(smoothing, i + 1);
            for (var k = 0; k < count; k++)
            {
                window[k] = surprise[i - k];
            }

            var z = Median(window.AsSpan(0, count));
            var score = i < warmUp ? 0 : 1 / (1 + Math.Exp(-(Math.Abs(z) - options.ZThreshold)));
            scores[i] = score;
            run = score >= 0.5 ? run + 1 : 0;
            if (!alarm && run >= persistence)
            {
                alarm = true;
            }
            else if (alarm && score < options.ClearScore)
            {
                alarm = false;
            }

            alarms[i] = alarm;
        }

        return new RiskSeries(scores, alarms);
    }

    /// <summary>Combines the risk of several metrics of one service: per step, the highest score; alarm when any alarms.</summary>
    public static RiskSeries Combine(IReadOnlyList<RiskSeries> metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        if (metrics.Count == 0)
        {
            return new RiskSeries([], []);
        }

        var length = metrics.Min(m => m.Scores.Count);
        return new RiskSeries(
            [.. Enumerable.Range(0, length).Select(i => metrics.Max(m => m.Scores[m.Scores.Count - length + i]))],
            [.. Enumerable.Range(0, length).Select(i => metrics.Any(m => m.Alarms[m.Alarms.Count - length + i]))]);
    }

    private static int Steps(RegularSeries series, TimeSpan span, int minimum) => Math.Max(minimum, (int)(span.Ticks / series.Step.Ticks));

    private static double Closer(double? a, double? b) => (a, b) switch
    {
        ({ } x, { } y) => Math.Abs(x) <= Math.Abs(y) ? x : y,
        ({ } x, null) => x,
        (null, { } y) => y,
        _ => 0,
    };

    private static List<double> Refs(double[] values, int i, int period, int count)
    {
        var refs = new List<double>(count);
        for (var k = 1; k <= count && i - (k * period) >= 0; k++)
        {
            refs.Add(values[i - (k * period)]);
        }

        return refs;
    }

    private static List<double> Window(double[] values, int i, int length)
    {
        var window = new List<double>(length);
        for (var k = 1; k <= length && i - k >= 0; k++)
        {
            window.Add(values[i - k]);
        }

        return window;
    }

    /// <summary>Robust z-scores from step <paramref name="first"/> on (residuals are computed for every step: the scale needs the earlier ones).</summary>
    private static double?[] ZScores(double[] values, Func<int, List<double>> references, int minRefs, int scaleWindow, int minHistory, int first, double minScale)
    {
        var residuals = new double?[values.Length];
        var z = new double?[values.Length];
        var buffer = new double[scaleWindow];
        var levels = new double[scaleWindow];
        for (var i = 0; i < values.Length; i++)
        {
            var refs = references(i);
            if (refs.Count < minRefs)
            {
                continue;
            }

            var residual = values[i] - Median(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(refs));
            residuals[i] = residual;
            if (i < first)
            {
                continue;
            }

            var n = 0;
            var m = 0;
            for (var k = 1; k <= scaleWindow && i - k >= 0; k++)
            {
                if (residuals[i - k] is { } r)
                {
                    buffer[n++] = r;
                }

                levels[m++] = values[i - k];
            }

            if (n < Math.Max(3, minHistory / 2))
            {
                continue;
            }

            var center = Median(buffer.AsSpan(0, n));
            var deviations = 0.0;
            for (var k = 0; k < n; k++)
            {
                buffer[k] = Math.Abs(buffer[k] - center);
                deviations += buffer[k];
            }

            var level = Math.Abs(Median(levels.AsSpan(0, m)));
            var mad = Median(buffer.AsSpan(0, n));
            var spread = mad > 0 ? 1.4826 * mad : 1.2533 * deviations / n;
            var scale = Math.Max(spread, Math.Max(0.01 * level, Math.Max(minScale, 1e-9)));
            z[i] = (residual - center) / scale;
        }

        return z;
    }

    /// <summary>Median of a span; reorders it.</summary>
    private static double Median(Span<double> values)
    {
        values.Sort();
        var middle = values.Length / 2;
        return values.Length % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}
