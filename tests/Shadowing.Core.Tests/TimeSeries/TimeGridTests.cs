using Shadowing.Core.TimeSeries;

namespace Shadowing.Core.Tests.TimeSeries;

public sealed class TimeGridTests
{
    [Fact]
    public void Floor_LinesUpOnTheUtcClock_WhateverTheOffset()
    {
        var local = new DateTimeOffset(2026, 12, 1, 12, 3, 20, TimeSpan.FromHours(2)); // 10:03:20 UTC

        var floored = TimeGrid.Floor(local, TimeSpan.FromMinutes(5));

        Assert.Equal(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero), floored);
        Assert.Equal(TimeSpan.Zero, floored.Offset);
    }

    [Fact]
    public void Floor_OnABoundary_StaysThere_AndTheNextTickIsInTheSameSpan()
    {
        var boundary = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

        Assert.Equal(boundary, TimeGrid.Floor(boundary, TimeSpan.FromHours(1)));
        Assert.Equal(boundary, TimeGrid.Floor(boundary.AddHours(1).AddTicks(-1), TimeSpan.FromHours(1)));
        Assert.Equal(boundary.AddHours(1), TimeGrid.Floor(boundary.AddHours(1), TimeSpan.FromHours(1)));
    }
}
