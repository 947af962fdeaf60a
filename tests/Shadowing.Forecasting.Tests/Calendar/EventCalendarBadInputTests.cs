using CsCheck;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.TestUtilities.BadInput;

namespace Shadowing.Forecasting.Tests.Calendar;

/// <summary>
/// The bad-input sweep over event calendar files (<c>--events FILE</c>): generated rows, good and broken, load or fail
/// with a <see cref="TimeSeriesFormatException"/> naming the file and row.
/// </summary>
public sealed class EventCalendarBadInputTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("calendar-sweep").FullName;

    private static Gen<string> Field { get; } = Gen.Frequency(
        (3, Gen.OneOf("2026-12-24 18:00:00", "2026-12-24T22:00:00Z", "xmas", "campaign", "holiday", "news", "2", "0.5", "-1", "0", "NaN", "1e400", "")),
        (1, BadInputSweep.NastyString));

    [Fact]
    public void GeneratedCalendarFiles_LoadOrFailNamingFileAndRow()
    {
        var path = Path.Combine(_directory, "events.csv");
        BadInputSweep.Run(
            "event calendar csv",
            Field.Array[0, 6].Select(f => string.Join(',', f)).Array[0, 12].Select(rows => "start,end,name,kind,multiplier\n" + string.Join('\n', rows)),
            text =>
            {
                File.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
                try
                {
                    var calendar = EventCalendar.ReadCsv(path);
                    Assert.All(calendar.Events, e => Assert.True(e.End > e.Start && e.ExpectedMultiplier is null or (> 0 and < double.PositiveInfinity), $"a loaded event is well-formed: {e}"));
                }
                catch (TimeSeriesFormatException ex)
                {
                    Assert.StartsWith("events.csv", ex.Message, StringComparison.Ordinal);
                }
            },
            output);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
