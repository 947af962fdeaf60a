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
}
