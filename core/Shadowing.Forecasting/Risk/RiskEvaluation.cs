using Shadowing.Core.TimeSeries;

namespace Shadowing.Forecasting.Risk;

/// <summary>A series with its labelled incident windows.</summary>
/// <param name="Name">For reports.</param>
/// <param name="Series">The metric.</param>
/// <param name="Windows">Where the incidents are (inclusive).</param>
public sealed record LabelledSeries(string Name, RegularSeries Series, IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)> Windows);

/// <summary>The settings the evaluation chooses between.</summary>
public readonly record struct RiskSettings(double ZThreshold, TimeSpan Smoothing, TimeSpan Persistence)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"z {ZThreshold}, smoothing {Smoothing.TotalMinutes}m, persistence {Persistence.TotalMinutes}m");
}

/// <summary>A series' NAB-style score parts: raw, and what detecting nothing and detecting every window at its start would score.</summary>
public readonly record struct NabParts(double Raw, double Null, double Perfect, int Detected, int Missed, int FalseAlarms)
{
    /// <summary>100 × (raw − null) / (perfect − null): 100 is perfect, 0 no better than never alarming.</summary>
    public double Normalized => Perfect > Null ? 100 * (Raw - Null) / (Perfect - Null) : double.NaN;

    /// <summary>Parts of several series added (NAB normalises the sum, not the mean of the normalised scores).</summary>
    public static NabParts Sum(IEnumerable<NabParts> parts) => parts.Aggregate(default(NabParts), (a, b) =>
        new(a.Raw + b.Raw, a.Null + b.Null, a.Perfect + b.Perfect, a.Detected + b.Detected, a.Missed + b.Missed, a.FalseAlarms + b.FalseAlarms));
}

/// <summary>One series of a leave-one-series-out evaluation: the settings chosen on the other series, and its score with them.</summary>
public sealed record HeldOutScore(string Name, RiskSettings Chosen, NabParts Score);

/// <summary>The outcome of <see cref="RiskEvaluation.LeaveOneSeriesOut"/>.</summary>
/// <param name="Series">Per series, scored with settings chosen without it.</param>
/// <param name="Total">Their parts added: the held-out score of the whole procedure.</param>
/// <param name="OnAll">What the procedure chooses given every series (the shipped defaults come from this).</param>
public sealed record LeaveOneOutResult(IReadOnlyList<HeldOutScore> Series, NabParts Total, RiskSettings OnAll);

/// <summary>
/// How the failure-risk scorer is judged and its settings chosen, without look-ahead or tuning on what is scored.
/// <para><b>Score</b> (NAB's standard profile): an alarm start is a detection. A window's first detection earns
/// A_TP × σ(position), σ(x) = 2 / (1 + e^(5x)) − 1 with x from −1 (window start) to 0 (its end), so earlier is
/// better; a window without one costs A_FN = 1. A detection outside every window costs A_FP = 0.11, scaled by σ of
/// its distance past the previous window (in window lengths) so that one just after an incident costs less.
/// Detections in the first 15 % of a series, at most 750 steps (NAB's probation), are not counted, nor windows that
/// end inside it. Unlike NAB, which counts every flagged step, a detection is an alarm <i>start</i>: an operator is paged
/// once per alarm, and the alarm's hysteresis keeps it on for a while. Normalised as NAB does:
/// 100 × (raw − null) / (perfect − null) over the sum of the series, null being a detector that never alarms.</para>
/// <para><b>Choice</b>: for each series, the settings with the highest total score on all the <i>other</i> series
/// (ties: the first in the grid, ordered from the most conservative), then that series is scored with them. The
/// scale window (2 days) and warm-up share (15 %) are fixed by convention, not searched.</para>
/// </summary>
public static class RiskEvaluation
{
    private const double TruePositive = 1.0;
    private const double FalsePositive = 0.11;
    private const double FalseNegative = 1.0;
    private const double Probation = 0.15;

    /// <summary>NAB caps the probation at 15 % of 5,000 records.</summary>
    private const int MaxProbation = 750;

    /// <summary>The grid searched: thresholds 2 to 8, smoothing and persistence none (one step) to an hour.</summary>
    public static IReadOnlyList<RiskSettings> Grid { get; } =
    [
        .. from z in new[] { 8.0, 6, 5, 4, 3 }
           from smoothing in new[] { 60, 30, 0 }
           from persistence in new[] { 60, 30, 0 }
           select new RiskSettings(z, TimeSpan.FromMinutes(smoothing), TimeSpan.FromMinutes(persistence)),
    ];

    /// <summary>The NAB-style score parts of <paramref name="alarms"/> over <paramref name="series"/>.</summary>
    public static NabParts Score(LabelledSeries series, IReadOnlyList<bool> alarms)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(alarms);
        var s = series.Series;
        var probation = Math.Min((int)(Probation * s.Count), MaxProbation);

        // As in NAB, a window that ends inside the probation is not scored.
        var windows = series.Windows.Where(w => w.End >= s.TimeAt(probation)).OrderBy(w => w.Start).ToArray();
        var firstInWindow = new double?[windows.Length];
        double falseAlarmCost = 0;
        var falseAlarms = 0;
        for (var i = Math.Max(1, probation); i < alarms.Count; i++)
        {
            if (!alarms[i] || alarms[i - 1])
            {
                continue; // not an alarm start
            }

            var t = s.TimeAt(i);
            var inside = Array.FindIndex(windows, w => t >= w.Start && t <= w.End);
            if (inside >= 0)
            {
                var w = windows[inside];
                var position = -(w.End - t + s.Step) / (w.End - w.Start + s.Step); // −1 at the first step, just above 0 at the last
                firstInWindow[inside] ??= TruePositive * Sigma(position) / Sigma(-1);
                continue;
            }

            falseAlarms++;
            var previous = windows.LastOrDefault(w => w.End < t);
            var cost = previous == default ? -1.0 : Sigma((t - previous.End) / Max(previous.End - previous.Start, s.Step)); // NAB: steps past it over (width − 1)
            falseAlarmCost += FalsePositive * cost;
        }

        var detected = firstInWindow.Count(d => d is not null);
        var raw = firstInWindow.Sum(d => d ?? -FalseNegative) + falseAlarmCost;
        return new NabParts(raw, -FalseNegative * windows.Length, TruePositive * windows.Length, detected, windows.Length - detected, falseAlarms);
    }

    /// <summary>
    /// Leave-one-series-out over <see cref="Grid"/>: every series is scored with the settings that did best on the
    /// others. <paramref name="baseOptions"/> gives what is not searched (seasonal or rolling, scale window, warm-up).
    /// </summary>
    public static LeaveOneOutResult LeaveOneSeriesOut(IReadOnlyList<LabelledSeries> data, RiskOptions baseOptions, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(baseOptions);
        if (data.Count < 2)
        {
            throw new ArgumentException("Leave-one-series-out needs at least two labelled series.", nameof(data));
        }

        // The surprise does not depend on the settings searched: compute it once per series.
        var surprise = data.Select((d, i) =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var z = new FailureRiskScorer(baseOptions).Surprise(d.Series);
            progress?.Report(i + 1);
            return z;
        }).ToArray();
        var parts = new NabParts[Grid.Count, data.Count];
        for (var g = 0; g < Grid.Count; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var scorer = new FailureRiskScorer(With(baseOptions, Grid[g]));
            for (var d = 0; d < data.Count; d++)
            {
                parts[g, d] = Score(data[d], scorer.Decide(data[d].Series, surprise[d]).Alarms);
            }
        }

        var held = new List<HeldOutScore>(data.Count);
        for (var d = 0; d < data.Count; d++)
        {
            var best = Best(parts, data.Count, exclude: d);
            held.Add(new HeldOutScore(data[d].Name, Grid[best], parts[best, d]));
        }

        return new LeaveOneOutResult(held, NabParts.Sum(held.Select(h => h.Score)), Grid[Best(parts, data.Count, exclude: -1)]);
    }

    /// <summary><paramref name="options"/> with <paramref name="settings"/> applied.</summary>
    public static RiskOptions With(RiskOptions options, RiskSettings settings)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new RiskOptions
        {
            WarmUpShare = options.WarmUpShare,
            Seasonal = options.Seasonal,
            ScaleWindow = options.ScaleWindow,
            ClearScore = options.ClearScore,
            ZThreshold = settings.ZThreshold,
            Smoothing = settings.Smoothing,
            Persistence = settings.Persistence,
        };
    }

    private static int Best(NabParts[,] parts, int count, int exclude)
    {
        var best = 0;
        var bestScore = double.NegativeInfinity;
        for (var g = 0; g < parts.GetLength(0); g++)
        {
            var score = NabParts.Sum(Enumerable.Range(0, count).Where(d => d != exclude).Select(d => parts[g, d])).Normalized;
            if (score > bestScore)
            {
                (best, bestScore) = (g, score);
            }
        }

        return best;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static double Sigma(double x) => x > 3 ? -1 : (2 / (1 + Math.Exp(5 * x))) - 1;
}
