using Shadowing.Cli.Demo;
using Shadowing.Core.Randomness;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Cli.Tests.Demo;

public sealed class DemoTraceTests
{
    private static readonly TimeSpan History = TimeSpan.FromDays(7);

    [Fact]
    public void Synthetic_SpikeIsTheCampaign_AnnouncedInTheCalendar_AndTheDailyPeakFitsProduction()
    {
        var trace = DemoTrace.Synthetic(TimeSpan.FromDays(1), History, RandomSource.Seeded(1));

        var campaign = Assert.Single(trace.Events, e => e.Start >= trace.Start);
        Assert.Equal("black-friday", campaign.Name);
        Assert.NotNull(trace.SpikeOnset);
        Assert.InRange(trace.SpikeOnset!.Value, campaign.Start, campaign.Start + TimeSpan.FromMinutes(30));

        // Outside campaigns demand stays within production, so only the campaign needs shadows.
        var quiet = trace.Steps(trace.Start - History, trace.End).Where(s => !trace.Events.Any(e => s.Time >= e.Start && s.Time < e.End)).ToArray();
        Assert.All(quiet, s => Assert.True(s.Requests / DemoTrace.Step.TotalMinutes < trace.ProductionCapacity, $"{s.Time:u}: {s.Requests}"));
        Assert.Contains(trace.Steps(trace.Start, trace.End), s => s.Requests / DemoTrace.Step.TotalMinutes > 1.3 * trace.ProductionCapacity);
    }

    [Fact]
    public void Synthetic_LiveWindowHasTheCampaignInItsMiddle_AndPastCampaignsAreInTheHistory()
    {
        var trace = DemoTrace.Synthetic(TimeSpan.FromHours(6), History, RandomSource.Seeded(1));

        Assert.Equal(TimeSpan.FromHours(6), trace.End - trace.Start);
        Assert.Equal(trace.Start + TimeSpan.FromHours(3), trace.Events[^1].Start);
        Assert.True(trace.Events.Count(e => e.End <= trace.Start && e.Start >= trace.Start - History) >= 3);
        Assert.Equal(0, trace.RatePerMinute(trace.End));
        Assert.Equal(0, trace.RatePerMinute(trace.Start - History - DemoTrace.Step));
    }

    [Fact]
    public void Synthetic_SameSeed_SameTrace()
    {
        var a = DemoTrace.Synthetic(TimeSpan.FromDays(1), History, RandomSource.Seeded(5));
        var b = DemoTrace.Synthetic(TimeSpan.FromDays(1), History, RandomSource.Seeded(5));

        Assert.Equal(a.Steps(a.Start - History, a.End), b.Steps(b.Start - History, b.End));
    }

    [Fact]
    public void FromSeries_LastDurationIsLive_ScaledToTheSyntheticPeak_CapacityFromTheHistory()
    {
        // Ten days of 30-minute steps: flat 100, with a burst to 300 in the last day.
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var step = TimeSpan.FromMinutes(30);
        var values = Enumerable.Range(0, 480).Select(i => i is >= 460 and < 466 ? 300.0 : 100.0).ToArray();

        var trace = DemoTrace.FromSeries(new RegularSeries(start, step, values), TimeSpan.FromDays(1), History, "burst.csv");

        Assert.Equal(start + (step * 480), trace.End);
        Assert.Equal(TimeSpan.FromDays(1), trace.End - trace.Start);
        var live = trace.Steps(trace.Start, trace.End).Select(s => s.Requests / DemoTrace.Step.TotalMinutes).ToArray();
        Assert.Equal(17, live.Max(), 6);
        Assert.Equal(17.0 / 3, live.Min(), 6);
        Assert.Equal(17.0 / 3 * 1.15, trace.ProductionCapacity, 6);
        Assert.Equal(start + (step * 460), trace.SpikeOnset);
    }

    [Fact]
    public void FromSeries_TooShort_NamesTheOption()
    {
        var series = new RegularSeries(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), TimeSpan.FromMinutes(5), new double[400]);

        var error = Assert.Throws<UsageException>(() => DemoTrace.FromSeries(series, TimeSpan.FromDays(1), History, "short.csv"));

        Assert.Contains("--trace: 'short.csv'", error.Message, StringComparison.Ordinal);
    }
}
