using System.Globalization;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Forecasting.Calendar;

/// <summary>
/// A scheduled or announced event that moves demand: a campaign, a launch, a sports final, a storm.
/// </summary>
/// <param name="Start">When it starts (inclusive).</param>
/// <param name="End">When it ends (exclusive).</param>
/// <param name="Name">What it is.</param>
/// <param name="Kind">For example campaign, event, news.</param>
/// <param name="ExpectedMultiplier">Expected demand relative to normal (2 = double), when someone knows.</param>
public sealed record CalendarEvent(DateTimeOffset Start, DateTimeOffset End, string Name, string Kind, double? ExpectedMultiplier = null);

/// <summary>A set of events, queried by time. Stored per service at state key <c>events/{service}</c> (<see cref="Shadowing.Core.State.StateKeys.Events"/>).</summary>
public sealed class EventCalendar
{
    private readonly CalendarEvent[] _events;

    /// <summary>Creates a calendar.</summary>
    public EventCalendar(IEnumerable<CalendarEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        _events = [.. events.OrderBy(e => e.Start)];
    }

    /// <summary>A calendar without events.</summary>
    public static EventCalendar Empty { get; } = new([]);

    /// <summary>The events.</summary>
    public IReadOnlyList<CalendarEvent> Events => _events;

    /// <summary>
    /// Whether an event is on during the step that starts at <paramref name="time"/> (any part of
    /// [<paramref name="time"/>, + <paramref name="step"/>): a campaign from 13:02 is on in the 13:00 step, its onset), and
    /// the log of the largest expected multiplier (0 when unknown). A zero step: at the instant.
    /// </summary>
    public (bool Active, double LogMultiplier) At(DateTimeOffset time, TimeSpan step)
    {
        var active = false;
        var log = 0.0;
        foreach (var e in _events)
        {
            if (step > TimeSpan.Zero ? e.Start >= time + step : e.Start > time)
            {
                break;
            }

            if (time < e.End)
            {
                active = true;
                if (e.ExpectedMultiplier is { } m && m > 0 && Math.Abs(Math.Log(m)) > Math.Abs(log))
                {
                    log = Math.Log(m);
                }
            }
        }

        return (active, log);
    }

    /// <summary>
    /// Reads a CSV with header <c>start,end,name,kind[,multiplier]</c> (timestamps as in <see cref="TimeSeriesCsv"/>).
    /// </summary>
    /// <exception cref="TimeSeriesFormatException">A row is invalid; the message names it.</exception>
    public static EventCalendar ReadCsv(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var source = Path.GetFileName(path);
        var events = new List<CalendarEvent>();
        var row = 0;
        foreach (var line in File.ReadLines(path))
        {
            row++;
            if (string.IsNullOrWhiteSpace(line) || (row == 1 && line.StartsWith("start", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var fields = line.Split(',').Select(f => f.Trim().Trim('"')).ToArray();
            if (fields.Length < 4)
            {
                throw new TimeSeriesFormatException($"{source}, row {row}: expected 'start,end,name,kind[,multiplier]'.");
            }

            var start = ParseTime(fields[0], source, row, "start");
            var end = ParseTime(fields[1], source, row, "end");
            if (end <= start)
            {
                throw new TimeSeriesFormatException($"{source}, row {row}: end {fields[1]} is not after start {fields[0]}.");
            }

            double? multiplier = null;
            if (fields.Length > 4 && fields[4].Length > 0)
            {
                if (!double.TryParse(fields[4], NumberStyles.Float, CultureInfo.InvariantCulture, out var m) || !double.IsFinite(m) || m <= 0)
                {
                    throw new TimeSeriesFormatException($"{source}, row {row}: multiplier '{fields[4]}' must be a positive number.");
                }

                multiplier = m;
            }

            events.Add(new CalendarEvent(start, end, fields[2], fields[3], multiplier));
        }

        return new EventCalendar(events);
    }

    private static DateTimeOffset ParseTime(string text, string source, int row, string field) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new TimeSeriesFormatException($"{source}, row {row}: {field} '{text}' is not a timestamp.");
}
