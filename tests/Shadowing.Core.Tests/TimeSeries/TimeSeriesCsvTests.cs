using Shadowing.Core.TimeSeries;

namespace Shadowing.Core.Tests.TimeSeries;

public sealed class TimeSeriesCsvTests
{
    [Fact]
    public void Read_HeaderAndIsoTimestamps_ParsesAsUtcWithRowNumbers()
    {
        var points = Read("timestamp,value\n2014-07-01 00:00:00,10\n2014-07-01T00:30:00Z,12.5\n\n2014-07-01 01:00:00.000000,\"7\"\n");

        Assert.Equal(3, points.Count);
        Assert.Equal(new DateTimeOffset(2014, 7, 1, 0, 30, 0, TimeSpan.Zero), points[1].Time);
        Assert.Equal(12.5, points[1].Value);
        Assert.Equal([2, 3, 5], points.Select(p => p.Row));
    }

    [Theory]
    [InlineData("", "has no data rows")]
    [InlineData("timestamp,value\n", "has no data rows")]
    [InlineData("timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:00:00,2\n", "row 3: timestamp 2014-07-01 00:00:00 repeats row 2")]
    [InlineData("timestamp,value\n2014-07-01 01:00:00,1\n2014-07-01 00:30:00,2\n", "row 3: timestamp 2014-07-01 00:30:00 is earlier than row 2's")]
    [InlineData("timestamp,value\n2014-07-01 00:00:00,NaN\n", "row 2: value 'NaN' is not a finite number")]
    [InlineData("timestamp,value\n2014-07-01 00:00:00,-4\n", "row 2: value -4 is negative")]
    [InlineData("timestamp,value\n2014-07-01 00:00:00,1\nyesterday,2\n", "row 3: 'yesterday' is not a timestamp")]
    [InlineData("timestamp,value\n2014-07-01 00:00:00 5\n", "row 2: expected 'timestamp,value'")]
    public void Read_BadInput_MessageNamesSourceAndRow(string csv, string expected)
    {
        var error = Assert.Throws<TimeSeriesFormatException>(() => Read(csv));

        Assert.StartsWith("data.csv", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static IReadOnlyList<TimeSeriesPoint> Read(string csv) => TimeSeriesCsv.Read(new StringReader(csv), "data.csv");
}
