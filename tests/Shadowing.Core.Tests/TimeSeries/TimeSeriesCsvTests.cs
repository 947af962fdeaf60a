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

    [Theory]
    [InlineData(DuplicateTimestamps.Mean, 4.0)]
    [InlineData(DuplicateTimestamps.Sum, 12.0)]
    [InlineData(DuplicateTimestamps.Last, 3.0)]
    public void Read_RepeatedTimestamp_MergedByPolicyAndCounted(DuplicateTimestamps policy, double expected)
    {
        const string csv = "timestamp,value\n2014-03-09 02:55:00,1\n2014-03-09 03:00:00,2\n2014-03-09 03:00:00,7\n2014-03-09 03:00:00,3\n2014-03-09 03:05:00,5\n";

        var points = TimeSeriesCsv.Read(new StringReader(csv), "data.csv", policy, out var report);

        Assert.Equal([1.0, expected, 5.0], points.Select(p => p.Value));
        Assert.Equal([2, 3, 6], points.Select(p => p.Row));
        Assert.Equal(new DuplicateReport(policy, Rows: 2, Timestamps: 1), report);
    }

    [Fact]
    public void Read_RepeatedHourAfterItEnded_MergesEveryRepeatedRow()
    {
        // A clock set back an hour: 02:00-02:10 is written twice, the second time after 02:10 had passed.
        const string csv = "timestamp,value\n2014-01-07 02:00:00,1\n2014-01-07 02:05:00,2\n2014-01-07 02:10:00,3\n2014-01-07 02:00:00,5\n2014-01-07 02:05:00,6\n2014-01-07 02:10:00,7\n2014-01-07 02:15:00,8\n";

        var points = TimeSeriesCsv.Read(new StringReader(csv), "data.csv", DuplicateTimestamps.Mean, out var report);

        Assert.Equal([3.0, 4.0, 5.0, 8.0], points.Select(p => p.Value));
        Assert.Equal(3, report.Rows);
        Assert.Equal(3, report.Timestamps);
    }

    [Fact]
    public void Read_RepeatedTimestampUnderErrorPolicy_NamesBothRows()
    {
        const string csv = "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:00:00,2\n";

        var error = Assert.Throws<TimeSeriesFormatException>(() => TimeSeriesCsv.Read(new StringReader(csv), "data.csv", DuplicateTimestamps.Error, out _));

        Assert.Contains("data.csv, row 3: timestamp 2014-07-01 00:00:00 repeats row 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NoRepeats_ReportsNone()
    {
        TimeSeriesCsv.Read(new StringReader("2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2\n"), "data.csv", DuplicateTimestamps.Mean, out var report);

        Assert.Equal(0, report.Rows);
    }

    private static IReadOnlyList<TimeSeriesPoint> Read(string csv) => TimeSeriesCsv.Read(new StringReader(csv), "data.csv");
}
