using Shadowing.Core.Configuration;

namespace Shadowing.Core.Tests.Configuration;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1.5h", 5400)]
    [InlineData("1d", 86400)]
    [InlineData("00:10:00", 600)]
    [InlineData("1.00:00:00", 86400)]
    [InlineData(" 5m ", 300)]
    public void TryParse_UnitsAndTimeSpans(string text, double seconds)
    {
        Assert.True(Durations.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("m")]
    [InlineData("-5m")]
    [InlineData("10x")]
    [InlineData("-00:10:00")]
    [InlineData("1e400d")]
    public void TryParse_Refuses(string? text)
    {
        Assert.False(Durations.TryParse(text, out _));
    }
}
