using System.Globalization;

namespace Shadowing.Core.TimeSeries;

/// <summary>
/// Reads <c>timestamp,value</c> CSV files (as exported by monitoring tools and the NAB corpus). An optional
/// header row is skipped. Timestamps are ISO 8601 (<c>2014-07-01 00:30:00</c>, <c>2014-07-01T00:30:00Z</c>, with
/// or without fractional seconds or an offset); without an offset they are read as UTC. Rows must be in
/// strictly increasing time order; values must be finite and not negative. Every error names its line.
/// </summary>
public static class TimeSeriesCsv
{
    /// <summary>Reads the points of a file.</summary>
    /// <exception cref="TimeSeriesFormatException">The file is empty or a row is invalid.</exception>
    public static IReadOnlyList<TimeSeriesPoint> ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var reader = new StreamReader(path);
        return Read(reader, Path.GetFileName(path));
    }

    /// <summary>Reads the points of a CSV text; <paramref name="source"/> names it in messages.</summary>
    public static IReadOnlyList<TimeSeriesPoint> Read(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var points = new List<TimeSeriesPoint>();
        var row = 0;
        while (reader.ReadLine() is { } line)
        {
            row++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var comma = line.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0)
            {
                throw new TimeSeriesFormatException($"{source}, row {row}: expected 'timestamp,value' but found '{Trim(line)}'.");
            }

            var timeText = line[..comma].Trim().Trim('"');
            var valueText = line[(comma + 1)..].Trim().Trim('"');
            if (!TryParseTime(timeText, out var time))
            {
                if (points.Count == 0 && row == 1)
                {
                    continue; // header
                }

                throw new TimeSeriesFormatException($"{source}, row {row}: '{Trim(timeText)}' is not a timestamp (expected for example 2014-07-01 00:30:00).");
            }

            if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                throw new TimeSeriesFormatException($"{source}, row {row}: value '{Trim(valueText)}' is not a finite number.");
            }

            if (value < 0)
            {
                throw new TimeSeriesFormatException($"{source}, row {row}: value {valueText} is negative; demand and resource metrics cannot be.");
            }

            if (points.Count > 0)
            {
                var previous = points[^1];
                if (time == previous.Time)
                {
                    throw new TimeSeriesFormatException($"{source}, row {row}: timestamp {timeText} repeats row {previous.Row}.");
                }

                if (time < previous.Time)
                {
                    throw new TimeSeriesFormatException($"{source}, row {row}: timestamp {timeText} is earlier than row {previous.Row}'s; rows must be in time order.");
                }
            }

            points.Add(new TimeSeriesPoint(time, value, row));
        }

        if (points.Count == 0)
        {
            throw new TimeSeriesFormatException($"{source} has no data rows (expected lines of 'timestamp,value').");
        }

        return points;
    }

    private static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time)
        && text.Length >= 10 && char.IsAsciiDigit(text[0]);

    private static string Trim(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
