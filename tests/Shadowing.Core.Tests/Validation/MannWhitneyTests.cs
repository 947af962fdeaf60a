using Shadowing.Core.Validation;

namespace Shadowing.Core.Tests.Validation;

/// <summary>Against published outputs of R's <c>wilcox.test</c> (inputs copied with them).</summary>
public sealed class MannWhitneyTests
{
    // R, ?wilcox.test, example from Hollander & Wolfe (1973), p. 69: wilcox.test(x, y, alternative = "g")
    // prints "W = 35, p-value = 0.1272" (no ties, exact).
    private static readonly double[] HollanderX = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    private static readonly double[] HollanderY = [1.15, 0.88, 0.90, 0.74, 1.21];

    // R session published at endmemo.com/r/wilcoxon.php: x has ties (21, 21), so R warns "cannot compute exact
    // p-value with ties" and uses the normal approximation with continuity correction.
    private static readonly double[] TiesX = [1, 5, 9, 24, 56, 21, 3, 7, 21, 4];
    private static readonly double[] TiesY1 = [12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5]; // wilcox.test(x, y): W = 51.5, p-value = 0.5966
    private static readonly double[] TiesY2 = [1233, 4356, 987, 39999, 1111, 200000];     // wilcox.test(x, y): W = 0, p-value = 0.001364

    [Fact]
    public void Normal_SamplesPast46340_DoNotOverflow()
    {
        // m(m + 1) passes int's range from m = 46,341: U came out 2^31 too low and identical samples "differed".
        var x = Enumerable.Range(1, 50_000).Select(i => (double)i).ToArray();

        var result = MannWhitney.Test(x, x, Alternative.Greater);

        Assert.Equal(50_000.0 * 50_000 / 2, result.U);
        Assert.InRange(result.PValue, 0.49, 0.51);
    }

    [Fact]
    public void Exact_UpperTail_MatchesR()
    {
        var result = MannWhitney.Test(HollanderX, HollanderY, Alternative.Greater);

        Assert.True(result.Exact);
        Assert.Equal(35, result.U);
        Assert.Equal(0.1272, result.PValue, 4);
    }

    [Fact]
    public void Exact_TwoSidedDoublesTheSmallerTail_LowerTailIsTheComplement()
    {
        var twoSided = MannWhitney.Test(HollanderX, HollanderY, Alternative.TwoSided);
        var lower = MannWhitney.Test(HollanderY, HollanderX, Alternative.Less);

        Assert.Equal(2 * 0.1272, twoSided.PValue, 3);

        // The same comparison seen from y: U_y = m·n − U_x = 15, and "less" for y is "greater" for x.
        Assert.Equal(15, lower.U);
        Assert.Equal(0.1272, lower.PValue, 4);
    }

    [Fact]
    public void Ties_NormalApproximationWithCorrections_MatchesR()
    {
        var first = MannWhitney.Test(TiesX, TiesY1, Alternative.TwoSided);
        var second = MannWhitney.Test(TiesX, TiesY2, Alternative.TwoSided);

        Assert.False(first.Exact);
        Assert.Equal(51.5, first.U);
        Assert.Equal(0.5966, first.PValue, 4);
        Assert.Equal(0, second.U);
        Assert.Equal(0.001364, second.PValue, 6);
    }

    [Fact]
    public void Ties_BothOneSidedTails()
    {
        // With the statistic below its mean, R's two-sided correction is the "less" one: that tail is half of 0.001364,
        // and the other tail is nearly 1.
        var less = MannWhitney.Test(TiesX, TiesY2, Alternative.Less);
        var greater = MannWhitney.Test(TiesX, TiesY2, Alternative.Greater);

        Assert.Equal(0.001364 / 2, less.PValue, 6);
        Assert.True(greater.PValue > 0.99, $"{greater.PValue}");
    }

    [Fact]
    public void Normal_TailsAtDoublePrecision()
    {
        Assert.Equal(0.975, Normal.Cdf(1.959963984540054), 12);
        Assert.Equal(6.220960574271784e-16, Normal.UpperTail(8), 6.220960574271784e-16 * 1e-10); // pnorm(8, lower.tail = FALSE), to 10 digits
        Assert.Equal(0.0013498980316301, Normal.Cdf(-3), 14);
        Assert.Equal(2.326347874040841, Normal.Quantile(0.99), 9);
    }

    [Fact]
    public void Proportions_PooledTestAtAMarginOfZero_AndWilson()
    {
        // 30/100 against 15/100: pooled p = 0.225, se = sqrt(0.225·0.775·0.02) = 0.05906, z = 2.540.
        var (z, p) = Proportions.AboveMargin(30, 100, 15, 100, 0);
        var (lower, upper) = Proportions.Wilson(0, 100, 0.95);

        Assert.Equal(2.540, z, 3);
        Assert.Equal(Normal.UpperTail(z), p, 12);
        Assert.Equal(0, lower, 12);
        Assert.Equal(0.037, upper, 3); // Wilson 95 % upper bound of 0/100
    }

    [Fact]
    public void Proportions_AboveMargin_IsFarringtonManning()
    {
        // z at the restricted maximum-likelihood proportions, checked against a numerical maximisation of the likelihood
        // under p1 - p2 = margin (golden-section search, in Python): 4/50 vs 0/50 at 0.01 gives p~1 = 0.040207, z = 1.8997;
        // 30/100 vs 2/300 at 0.02 gives p~1 = 0.082777, z = 8.8431.
        Assert.Equal(1.8997, Proportions.AboveMargin(4, 50, 0, 50, 0.01).Z, 4);
        Assert.Equal(8.8431, Proportions.AboveMargin(30, 100, 2, 300, 0.02).Z, 4);
        Assert.Equal(Normal.UpperTail(1.8997417), Proportions.AboveMargin(4, 50, 0, 50, 0.01).PValue, 6);
        Assert.Equal((0.0, 1.0), Proportions.AboveMargin(0, 50, 0, 50, 0)); // no errors on either side: no evidence
        Assert.Equal(1.0, Proportions.AboveMargin(50, 50, 0, 50, 1).PValue); // nothing exceeds another by all of it
        Assert.True(Proportions.AboveMargin(0, 50, 0, 50, 0.01).PValue > 0.5);
    }

    [Fact]
    public void Proportions_WilsonAtTheEnds_IsExactlyZeroAndOne()
    {
        // Computed, some n gave 0/n a lower bound a few 1e-18 above 0 (and n/n an upper a hair under 1): above a maxRate
        // of 0, or under a minAnsweredShare of 1, with nothing differing or failing.
        for (var n = 1; n <= 2000; n++)
        {
            foreach (var confidence in new[] { 0.9, 0.95, 0.98, 0.99 })
            {
                Assert.Equal(0.0, Proportions.Wilson(0, n, confidence).Lower);
                Assert.Equal(1.0, Proportions.Wilson(n, n, confidence).Upper);
            }
        }
    }
}
