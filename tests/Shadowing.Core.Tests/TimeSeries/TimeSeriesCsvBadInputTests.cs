using CsCheck;
using Shadowing.Core.TimeSeries;
using Shadowing.TestUtilities.BadInput;

namespace Shadowing.Core.Tests.TimeSeries;

/// <summary>
/// The bad-input sweep over metric series: generated CSV texts (good rows mixed with broken timestamps, values, empty
/// and repeated rows) read as points or fail with a <see cref="TimeSeriesFormatException"/> naming the source and row.
/// </summary>
public sealed class TimeSeriesCsvBadInputTests(ITestOutputHelper output)
{
    private static Gen<string> Row { get; } = Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, 100_000], Gen.Double[-1e6, 1e6]).Select(r => FormattableString.Invariant($"{new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(r.Item1 * 5):yyyy-MM-dd HH:mm:ss},{r.Item2}"))),
        (1, Gen.Select(BadInputSweep.NastyString, BadInputSweep.NastyString).Select(r => $"{r.Item1},{r.Item2}")),
        (1, Gen.OneOf("timestamp,value", "", ",", "2026-01-01 00:00:00,", ",5", "2026-01-01 00:00:00,NaN", "2026-01-01 00:00:00,Infinity", "2026-01-01 00:00:00,1e400", "2026-02-30 00:00:00,1", "2026-01-01T00:00:00Z,1,2", "\"2026-01-01 00:05:00\",\"3\"")),
        (1, BadInputSweep.NastyString));

    [Fact]
    public void GeneratedCsvTexts_ReadOrFailNamingSourceAndRow()
    {
        BadInputSweep.Run(
            "metric series csv",
            Row.Array[0, 30].Select(rows => string.Join('\n', rows)),
            text =>
            {
                try
                {
                    var points = TimeSeriesCsv.Read(new StringReader(text), "sweep.csv");
                    Assert.All(points, p => Assert.True(double.IsFinite(p.Value), $"a point's value is a number: {p.Value}"));
                }
                catch (TimeSeriesFormatException ex)
                {
                    Assert.StartsWith("sweep.csv", ex.Message, StringComparison.Ordinal);
                }
            },
            output);
    }
}
