namespace Shadowing.Core.Validation;

/// <summary>Tests on rates: two proportions against each other, and a confidence bound of one.</summary>
public static class Proportions
{
    /// <summary>
    /// The Farrington-Manning score test of whether the first proportion exceeds the second by more than
    /// <paramref name="margin"/> (null: <c>p1 − p2 ≤ margin</c>): the difference's distance from the margin over its
    /// standard error at the proportions most likely under the null (the restricted maximum-likelihood estimates, in
    /// closed form; Farrington and Manning 1990, Statistics in Medicine 9). With a margin of 0 it is the pooled z test
    /// (as R's <c>prop.test</c> without continuity correction).
    /// </summary>
    /// <returns>z and the one-sided p-value.</returns>
    public static (double Z, double PValue) AboveMargin(double x1, long n1, double x2, long n2, double margin)
    {
        if (n1 <= 0 || n2 <= 0 || x1 < 0 || x2 < 0 || x1 > n1 || x2 > n2)
        {
            throw new ArgumentOutOfRangeException(nameof(n1), "Counts must satisfy 0 <= x <= n and n > 0.");
        }

        if (margin >= 1)
        {
            return (0, 1); // no proportion exceeds another by all of it (a finite z: JSON has no infinity)
        }

        double p1 = x1 / n1, p2 = x2 / n2, theta = n2 / (double)n1;
        // The restricted estimate of p1 is the middle root of a cubic (Miettinen and Nurminen's likelihood equation).
        var a = 1 + theta;
        var b = -(1 + theta + p1 + (theta * p2) + (margin * (theta + 2)));
        var c = (margin * margin) + (margin * ((2 * p1) + theta + 1)) + p1 + (theta * p2);
        var d = -p1 * margin * (1 + margin);
        var v = (b * b * b / (27 * a * a * a)) - (b * c / (6 * a * a)) + (d / (2 * a));
        var u = Math.CopySign(Math.Sqrt(Math.Max(0, (b * b / (9 * a * a)) - (c / (3 * a)))), v);
        var restricted1 = u == 0 ? -b / (3 * a) : (2 * u * Math.Cos((Math.PI + Math.Acos(Math.Clamp(v / (u * u * u), -1, 1))) / 3)) - (b / (3 * a));
        restricted1 = Math.Clamp(restricted1, 0, 1);
        var restricted2 = Math.Clamp(restricted1 - margin, 0, 1);
        var variance = (restricted1 * (1 - restricted1) / n1) + (restricted2 * (1 - restricted2) / n2);
        if (variance <= 0)
        {
            return (0, 1); // both 0 % or both 100 % at a margin of 0: no evidence of a difference
        }

        var z = (p1 - p2 - margin) / Math.Sqrt(variance);
        return (z, Normal.UpperTail(z));
    }

    /// <summary>The Wilson score interval of <paramref name="x"/>/<paramref name="n"/> at two-sided <paramref name="confidence"/>.</summary>
    public static (double Lower, double Upper) Wilson(long x, long n, double confidence) => Wilson((double)x, n, confidence);

    /// <summary>As <see cref="Wilson(long, long, double)"/> for a count that may be fractional (a sum of per-unit shares).</summary>
    public static (double Lower, double Upper) Wilson(double x, long n, double confidence)
    {
        if (n <= 0)
        {
            return (0, 1);
        }

        var z = Normal.Quantile(1 - ((1 - confidence) / 2));
        var p = x / (double)n;
        var z2 = z * z;
        var centre = (p + (z2 / (2 * n))) / (1 + (z2 / n));
        var half = z / (1 + (z2 / n)) * Math.Sqrt((p * (1 - p) / n) + (z2 / (4.0 * n * n)));
        // At the ends the bound is exact: computed, 0/n's lower bound came out a few 1e-18 above 0 and n/n's upper a hair
        // under 1, which failed a shadow with no mismatch against maxRate 0, or with no error against minAnsweredShare 1.
        return (x <= 0 ? 0 : Math.Max(0, centre - half), x >= n ? 1 : Math.Min(1, centre + half));
    }
}
