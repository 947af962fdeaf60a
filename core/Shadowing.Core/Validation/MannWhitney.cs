namespace Shadowing.Core.Validation;

/// <summary>Which way a one-sided test looks, or both.</summary>
public enum Alternative
{
    /// <summary>x's distribution is shifted either way from y's.</summary>
    TwoSided,

    /// <summary>x's distribution is shifted above y's (x tends to be larger).</summary>
    Greater,

    /// <summary>x's distribution is shifted below y's.</summary>
    Less,
}

/// <summary>A Mann-Whitney U test's result.</summary>
/// <param name="U">The statistic for x: pairs (x, y) with x &gt; y, ties counting one half (R's W).</param>
/// <param name="PValue">The p-value for the alternative.</param>
/// <param name="Exact">Whether the p-value is exact (small samples without ties) or from the normal approximation.</param>
/// <param name="Z">The standardised statistic of the normal approximation (with tie and continuity corrections); null when exact.</param>
public readonly record struct MannWhitneyResult(double U, double PValue, bool Exact, double? Z);

/// <summary>
/// The Mann-Whitney U (Wilcoxon rank-sum) test for two independent samples, computed as R's <c>wilcox.test</c> does:
/// exact p-values from the null distribution of U when both samples have fewer than 50 values and there are no
/// ties; otherwise the normal approximation with the tie correction of the variance and a continuity correction.
/// </summary>
public static class MannWhitney
{
    /// <summary>Samples below this size (each) without ties get the exact p-value.</summary>
    public const int ExactLimit = 50;

    /// <summary>Tests whether <paramref name="x"/> is shifted from <paramref name="y"/> as <paramref name="alternative"/> says.</summary>
    public static MannWhitneyResult Test(IReadOnlyList<double> x, IReadOnlyList<double> y, Alternative alternative)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count == 0 || y.Count == 0)
        {
            throw new ArgumentException("Both samples need at least one value.");
        }

        int m = x.Count, n = y.Count, total = m + n;
        var all = new (double Value, bool FromX)[total];
        for (var i = 0; i < m; i++)
        {
            all[i] = (x[i], true);
        }

        for (var j = 0; j < n; j++)
        {
            all[m + j] = (y[j], false);
        }

        Array.Sort(all, (a, b) => a.Value.CompareTo(b.Value));

        // Average ranks over ties; the tie term sum(t^3 - t) corrects the variance.
        double rankSumX = 0, tieTerm = 0;
        for (var start = 0; start < total;)
        {
            var end = start;
            while (end + 1 < total && all[end + 1].Value == all[start].Value)
            {
                end++;
            }

            var rank = ((start + 1) + (end + 1)) / 2.0;
            for (var k = start; k <= end; k++)
            {
                rankSumX += all[k].FromX ? rank : 0;
            }

            double t = end - start + 1;
            tieTerm += (t * t * t) - t;
            start = end + 1;
        }

        var u = rankSumX - (m * (m + 1.0) / 2); // in double: m * (m + 1) overflows an int from m = 46,341
        if (m < ExactLimit && n < ExactLimit && tieTerm == 0)
        {
            return new MannWhitneyResult(u, ExactPValue((int)u, m, n, alternative), true, null);
        }

        var mean = m * (double)n / 2;
        var sigma = Math.Sqrt(m * (double)n / 12 * ((total + 1) - (tieTerm / (total * (double)(total - 1)))));
        var deviation = u - mean;
        var correction = alternative switch
        {
            Alternative.Greater => 0.5,
            Alternative.Less => -0.5,
            _ => Math.Sign(deviation) * 0.5,
        };
        var z = sigma == 0 ? 0 : (deviation - correction) / sigma;
        var p = alternative switch
        {
            Alternative.Greater => Normal.UpperTail(z),
            Alternative.Less => Normal.Cdf(z),
            _ => Math.Min(1, 2 * Math.Min(Normal.Cdf(z), Normal.UpperTail(z))),
        };
        return new MannWhitneyResult(u, p, false, z);
    }

    /// <summary>P-value from the exact null distribution of U for sample sizes m and n.</summary>
    private static double ExactPValue(int u, int m, int n, Alternative alternative)
    {
        var cumulative = Cumulative(m, n);
        double Below(int q) => q < 0 ? 0 : q >= cumulative.Length ? 1 : cumulative[q]; // P(U <= q)
        return alternative switch
        {
            Alternative.Greater => 1 - Below(u - 1),
            Alternative.Less => Below(u),
            _ => Math.Min(1, 2 * (u > m * n / 2.0 ? 1 - Below(u - 1) : Below(u))),
        };
    }

    /// <summary>P(U &lt;= q) for q = 0 … m·n: U's counts are the coefficients of a Gaussian binomial coefficient.</summary>
    private static double[] Cumulative(int m, int n)
    {
        // counts[j][s]: ways to pick j of the values seen so far with rank excess s (U of those picks).
        var max = m * n;
        var counts = new double[m + 1, max + 1];
        counts[0, 0] = 1;
        for (var value = 1; value <= m + n; value++)
        {
            for (var j = Math.Min(m, value); j >= 1; j--)
            {
                // Picking this value as the j-th from x adds (value - j) y-values below it.
                var shift = value - j;
                if (shift > n)
                {
                    continue;
                }

                for (var s = max; s >= shift; s--)
                {
                    counts[j, s] += counts[j - 1, s - shift];
                }
            }
        }

        var cumulative = new double[max + 1];
        double total = 0;
        for (var s = 0; s <= max; s++)
        {
            total += counts[m, s];
        }

        double running = 0;
        for (var s = 0; s <= max; s++)
        {
            running += counts[m, s];
            cumulative[s] = running / total;
        }

        return cumulative;
    }
}

/// <summary>The standard normal distribution, accurate to double precision in both tails.</summary>
public static class Normal
{
    /// <summary>P(Z &lt;= z).</summary>
    public static double Cdf(double z) => 0.5 * Erfc(-z / Math.Sqrt(2));

    /// <summary>P(Z &gt; z), without the cancellation of 1 - Cdf(z) far in the upper tail.</summary>
    public static double UpperTail(double z) => 0.5 * Erfc(z / Math.Sqrt(2));

    /// <summary>The z with P(Z &lt;= z) = <paramref name="probability"/>, by bisection on <see cref="Cdf"/> (used for a handful of confidence levels, not per sample).</summary>
    public static double Quantile(double probability)
    {
        if (probability is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Must be strictly between 0 and 1.");
        }

        double low = -40, high = 40;
        for (var i = 0; i < 200 && high - low > 1e-13; i++)
        {
            var mid = (low + high) / 2;
            if (Cdf(mid) < probability)
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        return (low + high) / 2;
    }

    /// <summary>The complementary error function: a series near 0, a continued fraction (Lentz) in the tails.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x))
        {
            return double.NaN;
        }

        if (x < 0)
        {
            return 2 - Erfc(-x);
        }

        if (x < 2)
        {
            // erf(x) = 2/sqrt(pi) * sum (-1)^k x^(2k+1) / (k! (2k+1))
            double term = x, sum = x, square = x * x;
            for (var k = 1; k < 100 && Math.Abs(term) > 1e-17 * Math.Abs(sum); k++)
            {
                term *= -square / k;
                sum += term / ((2 * k) + 1);
            }

            return 1 - (2 / Math.Sqrt(Math.PI) * sum);
        }

        if (x > 27)
        {
            return 0;
        }

        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))), by modified Lentz.
        const double tiny = 1e-300;
        var f = x;
        var c = x;
        var d = 0.0;
        for (var k = 1; k < 500; k++)
        {
            var a = k / 2.0;
            d = x + (a * d);
            d = Math.Abs(d) < tiny ? tiny : d;
            c = x + (a / c);
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            var delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16)
            {
                break;
            }
        }

        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }
}
