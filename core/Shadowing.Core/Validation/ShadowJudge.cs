using System.Globalization;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;

namespace Shadowing.Core.Validation;

/// <summary>A judgement: the shadow behaves like production, does not, or there is not enough evidence either way.</summary>
public enum Verdict
{
    /// <summary>Not enough samples, or a critical metric could not be judged. Never promotes.</summary>
    Inconclusive,

    /// <summary>Behaves like production on every critical metric, and on enough of the weight of the others.</summary>
    Pass,

    /// <summary>A critical metric failed, or too little of the weight passed.</summary>
    Fail,
}

/// <summary>One metric's judgement, with what it rests on.</summary>
public sealed record MetricVerdict
{
    /// <summary><c>latency</c>, <c>errorRate</c>, <c>mismatch</c> or <c>throughput</c>.</summary>
    public required string Metric { get; init; }

    public required Verdict Verdict { get; init; }

    /// <summary>Why, in one line with the figures.</summary>
    public required string Reason { get; init; }

    /// <summary>The test statistic (U, z), when a test ran (latency: the U of its rank test against the bounds).</summary>
    public double? Statistic { get; init; }

    /// <summary>The one-sided p-value, when a test ran (latency: its two looks' together, Bonferroni-adjusted).</summary>
    public double? PValue { get; init; }

    /// <summary>The size of the difference: latency's relative median shift, the error rates' difference, the mismatch rate, the worst answered share.</summary>
    public double? EffectSize { get; init; }

    public long ShadowSamples { get; init; }

    public long BaselineSamples { get; init; }

    public bool Critical { get; init; }

    public double Weight { get; init; }
}

/// <summary>A shadow's verdict over a window, stored at <c>verdicts/{service}/{shadow}</c>.</summary>
public sealed record ShadowVerdict
{
    public required string Service { get; init; }

    public required string Shadow { get; init; }

    public required Verdict Verdict { get; init; }

    /// <summary>One line per judged metric, failures first.</summary>
    public required IReadOnlyList<string> Reasons { get; init; }

    public required IReadOnlyList<MetricVerdict> Metrics { get; init; }

    /// <summary>Share of the weight of the decided metrics that passed.</summary>
    public double Score { get; init; }

    public required DateTimeOffset From { get; init; }

    public required DateTimeOffset To { get; init; }

    public required DateTimeOffset JudgedAt { get; init; }

    /// <summary>
    /// A Fail that continuous validation published to the shadow's owner, with its alert (not one judged by the CLI): an
    /// Active shadow's later Fails in the same readiness are stored without another notice or alert.
    /// </summary>
    public bool Noticed { get; init; }
}

/// <summary>
/// PVU's judge (no I/O): a shadow's mirrored answers against production's answers to the same requests. Latency by
/// one-sided Mann-Whitney U tests against its bounds and a look at its slowest tenth; error rate by a two-proportion
/// score test against its bound; response
/// mismatches with production's own noise cancelled (a JSON path that also differs between two production answers to
/// one request, or is ignored, does not count); throughput at the warm-up load from the shadow's per-minute records.
/// Too few samples give Inconclusive, never Pass.
/// </summary>
public static class ShadowJudge
{
    /// <summary>Judges <paramref name="shadow"/> from the outcomes of a window (its own, and the service's production-noise ones).</summary>
    public static ShadowVerdict Judge(
        string service,
        string shadow,
        IReadOnlyList<MirrorOutcome> outcomes,
        IReadOnlyList<EndpointMinuteRecord> shadowMinutes,
        ValidationSettings settings,
        IReadOnlyList<string> policyIgnoreFields,
        DateTimeOffset from,
        DateTimeOffset to,
        DateTimeOffset judgedAt)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        ArgumentNullException.ThrowIfNull(shadowMinutes);
        ArgumentNullException.ThrowIfNull(settings);
        var own = outcomes.Where(o => o.Kind == OutcomeKind.Shadow && o.Copy.EndpointId == shadow && o.Service == service).ToList();
        var noise = outcomes.Where(o => o.Kind == OutcomeKind.ProductionNoise && o.Service == service).ToList();
        var alpha = 1 - settings.Confidence;
        var metrics = new List<MetricVerdict>();
        if (settings.Latency.Enabled)
        {
            metrics.Add(Latency(own, settings, alpha));
        }

        if (settings.ErrorRate.Enabled)
        {
            metrics.Add(ErrorRate(own, settings, alpha));
        }

        if (settings.Mismatch.Enabled)
        {
            metrics.Add(Mismatch(own, noise, settings, [.. policyIgnoreFields ?? [], .. settings.Mismatch.IgnoreFields ?? []]));
        }

        if (settings.Throughput.Enabled)
        {
            metrics.Add(Throughput(shadowMinutes, settings.Throughput, settings.MinSamples, alpha));
        }

        var decided = metrics.Where(m => m.Verdict != Verdict.Inconclusive).ToList();
        var weight = decided.Sum(m => m.Weight);
        var score = weight == 0 ? 0 : decided.Where(m => m.Verdict == Verdict.Pass).Sum(m => m.Weight) / weight;

        // Metrics decided with no weight between them give the score nothing to weigh: no verdict, rather than a Fail of a
        // shadow that failed nothing.
        var verdict = metrics.Any(m => m.Critical && m.Verdict == Verdict.Fail) ? Verdict.Fail
            : metrics.Any(m => m.Critical && m.Verdict == Verdict.Inconclusive) || weight == 0 ? Verdict.Inconclusive
            : score >= settings.PassScore ? Verdict.Pass
            : Verdict.Fail;
        return new ShadowVerdict
        {
            Service = service,
            Shadow = shadow,
            Verdict = verdict,
            Reasons = [.. metrics.OrderBy(m => m.Verdict == Verdict.Fail ? 0 : m.Verdict == Verdict.Inconclusive ? 1 : 2).Select(m => m.Reason)],
            Metrics = metrics,
            Score = Math.Round(score, 4),
            From = from,
            To = to,
            JudgedAt = judgedAt,
        };
    }

    private static MetricVerdict Latency(List<MirrorOutcome> own, ValidationSettings settings, double alpha)
    {
        var check = settings.Latency;
        // One measurement per request, as production answered each once and as errorRate and mismatch judge: an amplified
        // request's replays are not independent samples (the rank test's p-value shrank with the amplification), they are of
        // safe requests only (the mix leant to reads), and a replay may find a cache its first copy filled (a slower shadow
        // looked faster). Its first copy that measured anything: a copy that timed out took at least its timeout, which a
        // test on ranks takes as slower than every answer; a refused or reset connection says nothing of how fast the
        // shadow answers. The same requests on both sides: those production measured too (a request production could not
        // answer, one the shadow answered slowly, is not held against the shadow alone).
        var measured = own.Where(o => (o.Copy.Status != 0 || o.Copy.TimedOut) && (o.Production.Status != 0 || o.Production.TimedOut))
            .GroupBy(o => o.OriginalRequestId, StringComparer.Ordinal)
            .ToDictionary(r => r.Key, r => r.MinBy(ReplayNumber)!.Copy.LatencyMs, StringComparer.Ordinal);
        var shadow = measured.Values.ToArray();

        // Production's answers to the same requests: a shadow that refuses its heavy requests is otherwise timed on the light
        // ones against production's whole mix, and looks faster than it is (its refusals count in errorRate).
        var baseline = Originals(own).Where(o => measured.ContainsKey(o.OriginalRequestId)).Select(o => o.Production.LatencyMs).ToArray();
        var verdict = new MetricVerdict { Metric = "latency", Verdict = Verdict.Inconclusive, Reason = string.Empty, ShadowSamples = shadow.Length, BaselineSamples = baseline.Length, Critical = check.Critical, Weight = check.Weight };
        if (shadow.Length < settings.MinSamples || baseline.Length < settings.MinSamples)
        {
            return verdict with { Reason = Format($"latency: {shadow.Length} shadow and {baseline.Length} production samples, {settings.MinSamples} each needed") };
        }

        var higherIsWorse = check.Direction == MetricDirection.HigherIsWorse;
        // Two looks, each at half the error rate (Bonferroni): the bulk of the answers, and the tenth furthest on the worse
        // side, where a shadow that answers most requests as fast as production and one in ten far slower shows and the
        // bulk does not; a failover target is judged by its slow answers too.
        var test = BeyondBounds(shadow, baseline, check, higherIsWorse);
        var tail = TailBeyondBounds(shadow, baseline, check, higherIsWorse);
        double shadowMedian = Median(shadow), baselineMedian = Median(baseline);
        var shift = baselineMedian > 0 ? (shadowMedian - baselineMedian) / baselineMedian : shadowMedian > 0 ? double.PositiveInfinity : 0;
        var pValue = Math.Min(1, 2 * Math.Min(test.PValue, tail.PValue));
        var failed = pValue < alpha;
        var worse = higherIsWorse ? "slower" : "faster";
        var bounds = Format($"{check.MaxRelativeShift:0.#%} and {check.MinAbsoluteShiftMs:0.#} ms");
        var figures = Format($"shadow median {shadowMedian:0.###} ms vs production {baselineMedian:0.###} ms ({shift:+0.#%;-0.#%;0%}); {tail.ShadowShare:0.#%} of the shadow's answers {worse} than {tail.Threshold:0.###} ms, production's {(higherIsWorse ? "p90" : "p10")} beyond the bounds, vs {tail.BaselineShare:0.#%} of production's beyond its {(higherIsWorse ? "p90" : "p10")}; p = {P(pValue)} against the bounds, {shadow.Length} samples");
        var where = test.PValue <= tail.PValue ? "" : Format($" in its {(higherIsWorse ? "slowest" : "fastest")} tenth");
        var reason = failed ? $"latency: {worse} than production beyond {bounds}{where} ({figures})"
            : $"latency: not shown {worse} than production beyond {bounds} ({figures})";
        // No shift when production's median is 0 ms: JSON has no infinity, and the verdict would not store.
        return verdict with { Verdict = failed ? Verdict.Fail : Verdict.Pass, Reason = reason, Statistic = test.U, PValue = pValue, EffectSize = double.IsFinite(shift) ? shift : null };
    }

    /// <summary>
    /// Whether more of the shadow's answers than production's lie beyond production's 90th percentile moved out by both
    /// bounds (its 10th moved in, when lower is worse): the shares compared by the one-sided two-proportion test; a
    /// shadow whose 90th percentile is within the bounds has at most a tenth there.
    /// </summary>
    private static (double PValue, double Threshold, double ShadowShare, double BaselineShare) TailBeyondBounds(double[] shadow, double[] baseline, LatencyCheck check, bool higherIsWorse)
    {
        var sorted = baseline.Order().ToArray();
        var quantile = sorted[(int)Math.Ceiling((higherIsWorse ? 0.9 : 0.1) * sorted.Length) - 1];
        var threshold = higherIsWorse
            ? Math.Max(quantile * (1 + check.MaxRelativeShift), quantile + check.MinAbsoluteShiftMs)
            : Math.Min(quantile * (1 - check.MaxRelativeShift), quantile - check.MinAbsoluteShiftMs);
        var beyond = higherIsWorse ? shadow.Count(x => x > threshold) : shadow.Count(x => x < threshold);
        // Production's at or beyond its own quantile: answers tied there (a fast service's identical timings) would
        // otherwise leave production none beyond it, and any shadow answer past the bounds look like a slower tenth.
        var baselineBeyond = higherIsWorse ? baseline.Count(x => x >= quantile) : baseline.Count(x => x <= quantile);
        var (_, p) = Proportions.AboveMargin(beyond, shadow.Length, baselineBeyond, baseline.Length, 0);
        return (p, threshold, beyond / (double)shadow.Length, baselineBeyond / (double)baseline.Length);
    }

    /// <summary>
    /// Whether the shadow is worse than production beyond both bounds, tested against the bounds themselves: the shadow's
    /// latencies brought back by the relative bound (÷ 1.1 for 10 % slower) are compared with production's by one rank
    /// test, and brought back by the absolute bound (− 5 ms) by another; the shadow fails only when both are significant
    /// (an intersection-union test: its p-value is the larger of the two, and its error rate stays at 1 − confidence).
    /// Testing for any difference and then comparing the medians with the bounds failed a shadow just inside them often
    /// once samples were plentiful: the difference was always significant, and the sample medians
    /// scattered around the bound (in a reviewer's simulation, lognormal latencies, a median 9 % slower, 10 % allowed:
    /// about a third of the windows failed).
    /// </summary>
    private static MannWhitneyResult BeyondBounds(double[] shadow, double[] baseline, LatencyCheck check, bool higherIsWorse)
    {
        // Lower is worse: "worse beyond the relative bound" is below (1 − bound) × production's, which no latency can be
        // for a bound of 1 or more.
        var relative = higherIsWorse || check.MaxRelativeShift < 1
            ? MannWhitney.Test([.. shadow.Select(x => higherIsWorse ? x / (1 + check.MaxRelativeShift) : x / (1 - check.MaxRelativeShift))], baseline, higherIsWorse ? Alternative.Greater : Alternative.Less)
            : new MannWhitneyResult(0, 1, Exact: true, Z: null);
        var absolute = MannWhitney.Test([.. shadow.Select(x => higherIsWorse ? x - check.MinAbsoluteShiftMs : x + check.MinAbsoluteShiftMs)], baseline, higherIsWorse ? Alternative.Greater : Alternative.Less);
        return relative.PValue >= absolute.PValue ? relative : absolute;
    }

    private static MetricVerdict ErrorRate(List<MirrorOutcome> own, ValidationSettings settings, double alpha)
    {
        var check = settings.ErrorRate;
        // Judged per request, as mismatch is: an amplified request's replays are one request's evidence, and only safe
        // requests are amplified, so counting answers let a hundred good replays of GETs dilute writes that all failed.
        // Each request counts the share of its answers that failed.
        var requests = own.GroupBy(o => o.OriginalRequestId, StringComparer.Ordinal).ToList();
        var n = requests.Count;
        var shadowErrors = requests.Sum(r => r.Count(o => Failed(o.Copy.Status)) / (double)r.Count());
        var failedAnswers = own.Count(o => Failed(o.Copy.Status));
        var originals = Originals(own);
        var m = originals.Count;
        var baselineErrors = originals.Count(o => Failed(o.Production.Status));
        var verdict = new MetricVerdict { Metric = "errorRate", Verdict = Verdict.Inconclusive, Reason = string.Empty, ShadowSamples = own.Count, BaselineSamples = m, Critical = check.Critical, Weight = check.Weight };
        if (n < settings.MinSamples || m < settings.MinSamples)
        {
            return verdict with { Reason = Format($"errorRate: {n} shadow and {m} production samples, {settings.MinSamples} each needed") };
        }

        // Tested against the bound itself, not for any difference with the point estimate then compared with the bound:
        // that failed a shadow just inside the bound often once samples were plentiful (production 1 %,
        // shadow 1.9 %, 1 point allowed: a reviewer's exact enumeration put it at over a third of 2,000-request windows).
        var (z, p) = Proportions.AboveMargin(shadowErrors, n, baselineErrors, m, check.MaxIncrease);
        var difference = (shadowErrors / n) - (baselineErrors / (double)m);
        var failed = p < alpha;
        var answers = own.Count == n ? string.Empty : Format($"; {failedAnswers}/{own.Count} answers");
        var figures = Format($"shadow {shadowErrors:0.##}/{n} ({shadowErrors / n:0.##%}{answers}) vs production {baselineErrors}/{m} ({baselineErrors / (double)m:0.##%}), p = {P(p)} against the bound");
        return verdict with
        {
            Verdict = failed ? Verdict.Fail : Verdict.Pass,
            Reason = failed ? $"errorRate: more errors than production beyond {check.MaxIncrease:0.##%} ({figures})" : $"errorRate: not shown beyond {check.MaxIncrease:0.##%} more errors than production ({figures})",
            Statistic = z,
            PValue = p,
            EffectSize = difference,
        };
    }

    /// <summary>0 for a request's first copy, <c>i</c> for its replay <c>{id}#{i}</c>.</summary>
    private static int ReplayNumber(MirrorOutcome outcome) =>
        outcome.RequestId.Length > outcome.OriginalRequestId.Length
        && int.TryParse(outcome.RequestId.AsSpan(outcome.OriginalRequestId.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var replay) ? replay : 0;

    /// <summary>One outcome per request: an amplified request's replays share production's single answer.</summary>
    private static List<MirrorOutcome> Originals(List<MirrorOutcome> own) => [.. own.DistinctBy(o => o.OriginalRequestId, StringComparer.Ordinal)];

    private static MetricVerdict Mismatch(List<MirrorOutcome> own, List<MirrorOutcome> noise, ValidationSettings settings, IReadOnlyList<string> ignore)
    {
        var check = settings.Mismatch;
        // Production's noise: paths that differ between two production endpoints answering the same request with the same
        // status and comparable bodies. Never the whole body ('$'): one noisy non-JSON pair would hide every shadow
        // answer that differs entirely. Kept per route, as Diffy keeps it per endpoint, once a route has minSamples pairs of
        // its own: an id random on every GET /recommendations must not cancel a wrong id on GET /cart. With fewer, a field
        // that differs only now and then may not have differed yet in its own pairs: the route uses the service's noise.
        var pairs = noise.Where(o => o.Compared && o.Copy.Status == o.Production.Status).ToList();
        var pooled = NoisyShapes(pairs);
        var byRoute = pairs.GroupBy(RouteOf, StringComparer.Ordinal).Where(g => g.Count() >= settings.MinSamples)
            .ToDictionary(g => g.Key, NoisyShapes, StringComparer.Ordinal);
        var routesOnOwn = new HashSet<string>(StringComparer.Ordinal);

        // Every pair answered without a server error counts for its status; its body paths only where both bodies could be
        // compared (not past maxBodyBytes): a service with large answers is judged on statuses rather than never judged.
        // A 5xx or no answer on either side is errorRate's to judge, against production's own rate: counted here too, an
        // identical shadow whose production and copy each fail 1 % of requests at random would differ in 2 % of pairs.
        var compared = own.Where(o => o.Copy.Status is > 0 and < 500 && o.Production.Status is > 0 and < 500).ToList();
        var counted = new Dictionary<string, int>(StringComparer.Ordinal);
        var mismatches = 0;
        var perRequest = new Dictionary<string, (int Answers, int Differing)>(StringComparer.Ordinal);
        foreach (var outcome in compared)
        {
            var differing = outcome.Compared ? outcome.DifferingPaths : [];
            var route = RouteOf(outcome);
            if (byRoute.TryGetValue(route, out var noisy))
            {
                routesOnOwn.Add(route);
            }
            else
            {
                noisy = pooled;
            }

            // A list cut short (JsonDiff.More) hides shapes that may differ: it counts as a difference unless production's own
            // pairs are cut short too.
            var paths = differing.Where(p => !noisy.Contains(Mirroring.JsonDiff.Shape(p)) && !Mirroring.JsonDiff.Ignored(p, ignore)).Select(Mirroring.JsonDiff.Shape).ToList();
            if (outcome.Copy.Status != outcome.Production.Status)
            {
                paths.Add($"status {outcome.Production.Status}→{outcome.Copy.Status}");
            }

            var (answers, differs) = perRequest.GetValueOrDefault(outcome.OriginalRequestId);
            perRequest[outcome.OriginalRequestId] = (answers + 1, differs + (paths.Count > 0 ? 1 : 0));
            if (paths.Count > 0)
            {
                mismatches++;
                foreach (var path in paths.Distinct())
                {
                    var shown = path == JsonDiff.More ? $"more than {JsonDiff.MaxPaths} fields" : path;
                    counted[shown] = counted.GetValueOrDefault(shown) + 1;
                }
            }
        }

        var n = compared.Count;
        var requests = Originals(compared).Count; // replays of one request are not independent evidence
        var verdict = new MetricVerdict { Metric = "mismatch", Verdict = Verdict.Inconclusive, Reason = string.Empty, ShadowSamples = n, BaselineSamples = noise.Count, Critical = check.Critical, Weight = check.Weight };
        if (n < settings.MinSamples || requests < settings.MinSamples)
        {
            return verdict with { Reason = Format($"mismatch: {n} compared answers to {requests} requests, {settings.MinSamples} requests needed") };
        }

        // Judged per request: replays of one request share its input, so they are one piece of evidence however often it
        // was replayed (counting answers, one bad request replayed 100 times failed a shadow). Each request counts the share
        // of its answers that differ, not "any differs", which would grow with the number of replays.
        var differingShare = perRequest.Values.Sum(r => r.Differing / (double)r.Answers);
        var rate = differingShare / requests;
        // Wilson is two-sided: the one-sided bound at `confidence` is the two-sided one at 1 - 2α.
        var (lower, _) = Proportions.Wilson(differingShare, requests, 1 - (2 * (1 - settings.Confidence)));
        var top = string.Join(", ", counted.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Take(3).Select(c => Format($"{c.Key} ({c.Value})")));
        var figures = Format($"{differingShare:0.##}/{requests} requests ({rate:0.##%}; {mismatches}/{n} answers); {pooled.Count} path(s) production noise in {pairs.Count} production pair(s){(routesOnOwn.Count > 0 ? $", {routesOnOwn.Count} route(s) judged on their own" : string.Empty)}");
        var result = lower > check.MaxRate ? Verdict.Fail : rate <= check.MaxRate ? Verdict.Pass : Verdict.Inconclusive;
        var reason = result switch
        {
            Verdict.Fail => $"mismatch: answers differ from production beyond {check.MaxRate:0.##%} ({figures}; most: {top})",
            Verdict.Pass => $"mismatch: within {check.MaxRate:0.##%} ({figures})",
            _ => $"mismatch: above {check.MaxRate:0.##%} but not significantly yet ({figures}; most: {top})",
        };
        return verdict with { Verdict = result, Reason = reason, EffectSize = rate };
    }

    private static HashSet<string> NoisyShapes(IEnumerable<MirrorOutcome> pairs) =>
        pairs.SelectMany(o => o.DifferingPaths).Where(p => p != "$").Select(JsonDiff.Shape).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The route an outcome was answered on: its method and path, each segment that reads as an id (digits, a GUID, or 8
    /// characters or more with a digit) read as <c>{id}</c>, so <c>GET /orders/17</c> and <c>GET /orders/18</c> share
    /// their noise. A segment read too literally splits a route, and a route with too few pairs of its own uses the
    /// service's noise, as every route did before noise was kept per route.
    /// </summary>
    internal static string RouteOf(MirrorOutcome outcome)
    {
        var segments = outcome.Path.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment.Length > 0 && (segment.All(char.IsAsciiDigit) || Guid.TryParse(segment, out _) || (segment.Length >= 8 && segment.Any(char.IsAsciiDigit))))
            {
                segments[i] = "{id}";
            }
        }

        return outcome.Method + " " + string.Join('/', segments);
    }

    /// <summary>
    /// The shadow kept up if no busy minute, and not the busy minutes together, answered significantly less than
    /// <see cref="ThroughputCheck.MinAnsweredShare"/> of its copies. A minute's share is a count of a few dozen copies:
    /// read raw, two errors in thirty (a 1 % error rate's ordinary luck) would fail an identical shadow in about one
    /// window of three. So each minute is judged by the upper Wilson bound of its share, its α split over the busy
    /// minutes (Bonferroni), and the pooled share at α catches a shadow steadily just below the bar.
    /// </summary>
    private static MetricVerdict Throughput(IReadOnlyList<EndpointMinuteRecord> minutes, ThroughputCheck check, int minSamples, double alpha)
    {
        var busy = minutes.Where(m => m.Mirror is { } mirror && mirror.Requests >= check.MinCopiesPerMinute).Select(m => m.Mirror!).ToList();
        var verdict = new MetricVerdict { Metric = "throughput", Verdict = Verdict.Inconclusive, Reason = string.Empty, ShadowSamples = busy.Sum(m => m.Requests), BaselineSamples = busy.Count, Critical = check.Critical, Weight = check.Weight };
        if (busy.Count == 0)
        {
            return verdict with { Reason = Format($"throughput: no minute with {check.MinCopiesPerMinute} copies or more") };
        }

        if (verdict.ShadowSamples < minSamples)
        {
            return verdict with { Reason = Format($"throughput: {verdict.ShadowSamples} copies in busy minutes, {minSamples} needed") };
        }

        // Wilson is two-sided: a one-sided bound at α' is the two-sided one at confidence 1 - 2α'.
        var perMinute = 1 - (2 * alpha / busy.Count);
        var (worstMinute, worstUpper) = busy.Select(m => (Minute: m, Proportions.Wilson(m.Requests - m.Errors, m.Requests, perMinute).Upper)).MinBy(m => m.Upper);
        long copies = busy.Sum(m => m.Requests), answered = busy.Sum(m => m.Requests - m.Errors);
        var pooledUpper = Proportions.Wilson(answered, copies, 1 - (2 * alpha)).Upper;
        var failed = worstUpper < check.MinAnsweredShare || pooledUpper < check.MinAnsweredShare;
        var worst = busy.Min(m => (m.Requests - m.Errors) / (double)m.Requests);
        var figures = Format($"worst busy minute answered {worst:0.##%} of its copies ({worstMinute.Requests - worstMinute.Errors}/{worstMinute.Requests} at the least, at most {worstUpper:0.##%}); all busy minutes {answered / (double)copies:0.##%} (at most {pooledUpper:0.##%}); {busy.Count} busy minute(s), up to {busy.Max(m => m.Requests)} copies a minute");
        return verdict with
        {
            Verdict = failed ? Verdict.Fail : Verdict.Pass,
            Reason = failed ? $"throughput: significantly below {check.MinAnsweredShare:0.##%} at the warm-up load ({figures})" : $"throughput: kept up with the warm-up load ({figures})",
            EffectSize = worst,
        };
    }

    private static bool Failed(int status) => status is 0 or >= 500;

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A p-value as people read one: 0.765, 0.0496 (four places below 0.1, so one near a significance level does not round
    /// onto it), and only a tiny one in scientific notation (3.1E-9).
    /// </summary>
    internal static string P(double p) => p switch
    {
        >= 0.1 => p.ToString("0.###", CultureInfo.InvariantCulture),
        >= 0.001 => p.ToString("0.####", CultureInfo.InvariantCulture),
        _ => p.ToString("0.#E+0", CultureInfo.InvariantCulture),
    };
}
