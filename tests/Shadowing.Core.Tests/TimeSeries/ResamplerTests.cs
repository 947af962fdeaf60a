using Shadowing.Core.TimeSeries;

namespace Shadowing.Core.Tests.TimeSeries;

public sealed class ResamplerTests
{
    private static readonly DateTimeOffset T0 = new(2014, 4, 10, 0, 4, 0, TimeSpan.Zero);

    [Fact]
    public void Resample_GapAndJitter_InfersStepInterpolatesAndFlags()
    {
        var points = new[]
        {
            P(0, 10), P(5, 20), P(10.5, 30), /* 15 missing */ P(20, 50), P(25, 60),
        };

        var series = Resampler.Resample(points, null, out var report);

        Assert.Equal(TimeSpan.FromMinutes(5), report.Step);
        Assert.Equal(T0, series.Start);
        Assert.Equal([10.0, 20, 30, 40, 50, 60], series.Values);
        Assert.Equal([false, false, false, true, false, false], series.Imputed);
        Assert.Equal(1, report.Filled);
    }

    [Fact]
    public void Resample_TwoPointsInOneStep_Averages()
    {
        var series = Resampler.Resample([P(0, 10), P(5, 20), P(6, 40), P(10, 5)], TimeSpan.FromMinutes(5), out var report);

        Assert.Equal([10.0, 30, 5], series.Values);
        Assert.Equal(1, report.Merged);
    }

    [Fact]
    public void RegularSeries_TimeAtAndSteps()
    {
        var series = new RegularSeries(T0, TimeSpan.FromMinutes(30), new double[100]);

        Assert.Equal(T0.AddHours(1), series.TimeAt(2));
        Assert.Equal(48, series.StepsIn(TimeSpan.FromDays(1)));
        Assert.Equal(0, series.StepsIn(TimeSpan.FromMinutes(45)));
        Assert.Equal(2, series.IndexAtOrBefore(T0.AddMinutes(70)));
        Assert.Equal(10, series.Take(10).Count);
    }

    private static TimeSeriesPoint P(double minutes, double value) => new(T0.AddMinutes(minutes), value);
}
