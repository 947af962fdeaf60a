using Shadowing.Core.State;

namespace Shadowing.Core.Tests.State;

public sealed class StateKeysTests
{
    [Theory]
    [InlineData("metrics/orders/p1/2026-11-28", "2026-11-28")]
    [InlineData("metrics/orders/2026-11-28", null)]
    [InlineData("metrics/orders/p1/x/2026-11-28", null)]
    [InlineData("metrics/orders/p1/28-11-2026", null)]
    [InlineData("metrics-by-day/orders/2026-11-28/p1", null)]
    [InlineData("outcome-slots/orders/p1/2026-11-28", null)]
    public void LegacyMetricsDayOf_OnlyTheLayoutBefore_WithADateLast(string key, string? day)
    {
        Assert.Equal(day is null ? null : DateOnly.Parse(day, System.Globalization.CultureInfo.InvariantCulture), StateKeys.LegacyMetricsDayOf(key));
        if (day is not null)
        {
            Assert.Equal(key, StateKeys.LegacyMetrics("orders", "p1", StateKeys.LegacyMetricsDayOf(key)!.Value));
        }
    }

    [Theory]
    [InlineData("metrics-by-day/orders/2026-11-28/p1@00", 0)]
    [InlineData("metrics-by-day/orders/2026-11-28/p1@23", 23)]
    [InlineData("metrics-by-day/orders/2026-11-28/p1", null)]
    [InlineData("metrics-by-day/orders/2026-11-28/p1@24", null)]
    [InlineData("metrics-by-day/orders/2026-11-28/p1@7", null)]
    [InlineData("metrics-by-day/orders/2026-11-28/p1@+7", null)]
    [InlineData("metrics-by-day/orders@12/2026-11-28/p1", null)]
    public void MetricsHourOf_TwoDigitsAfterTheLastSegmentsAt_ElseAWholeDay(string key, int? hour)
    {
        Assert.Equal(hour, StateKeys.MetricsHourOf(key));
        if (hour is not null)
        {
            Assert.Equal(key, StateKeys.Metrics("orders", "p1", new DateTimeOffset(2026, 11, 28, hour.Value, 59, 59, TimeSpan.Zero)));
        }
    }
}
