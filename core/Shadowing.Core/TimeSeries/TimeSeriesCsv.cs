using System.Globalization;

namespace Shadowing.Core.TimeSeries;

/// <summary>
/// Reads <c>timestamp,value</c> CSV files (as exported by monitoring tools and the NAB corpus). An optional
/// header row is skipped. Timestamps are ISO 8601 (<c>2014-07-01 00:30:00</c>, <c>2014-07-01T00:30:00Z</c>, with
/// or without fractional seconds or an offset); without an offset they are read as UTC. Rows must be in
/// increasing time order, except that a row may repeat a timestamp seen before (exports do this, for example
/// around a daylight-saving change): such rows are merged by a <see cref="DuplicateTimestamps"/> policy and
/// counted. Values must be finite and not negative. Every error names its line.
/// </summary>
public static class TimeSeriesCsv
{
    /// <summary>Reads the points of a file, averaging rows that repeat a timestamp.</summary>
    /// <exception cref="TimeSeriesFormatException">The file is empty or a row is invalid.</exception>
    public static IReadOnlyList<TimeSeriesPoint> ReadFile(string path) => ReadFile(path, DuplicateTimestamps.Mean, out _);

    /// <summary>Reads the points of a file, merging rows that repeat a timestamp by <paramref name="duplicates"/>.</summary>
    /// <exception cref="TimeSeriesFormatException">The file is empty, a row is invalid, or a timestamp repeats under <see cref="DuplicateTimestamps.Error"/>.</exception>
    public static IReadOnlyList<TimeSeriesPoint> ReadFile(string path, DuplicateTimestamps duplicates, out DuplicateReport report)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var reader = new StreamReader(path);
        return Read(reader, Path.GetFileName(path), duplicates, out report);
    }

    /// <summary>Reads the points of a CSV text, averaging rows that repeat a timestamp; <paramref name="source"/> names it in messages.</summary>
    public static IReadOnlyList<TimeSeriesPoint> Read(TextReader reader, string source) => Read(reader, source, DuplicateTimestamps.Mean, out _);

    /// <summary>Reads the points of a CSV text; <paramref name="source"/> names it in messages.</summary>
    public static IReadOnlyList<TimeSeriesPoint> Read(TextReader reader, string source, DuplicateTimestamps duplicates, out DuplicateReport report)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var points = new List<TimeSeriesPoint>();
        var indexByTime = new Dictionary<DateTimeOffset, int>();
        Dictionary<int, (double Sum, int Count, double Last)>? repeated = null;
        var duplicateRows = 0;
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

            if (points.Count > 0 && time <= points[^1].Time)
            {
                if (!indexByTime.TryGetValue(time, out var first))
                {
                    throw new TimeSeriesFormatException($"{source}, row {row}: timestamp {timeText} is earlier than row {points[^1].Row}'s; rows must be in time order.");
                }

                if (duplicates == DuplicateTimestamps.Error)
                {
                    throw new TimeSeriesFormatException($"{source}, row {row}: timestamp {timeText} repeats row {points[first].Row} (duplicate timestamps are refused by the 'error' policy; 'mean', 'sum' or 'last' merges them).");
                }

                repeated ??= [];
                var (sum, count, _) = repeated.TryGetValue(first, out var seen) ? seen : (points[first].Value, 1, points[first].Value);
                repeated[first] = (sum + value, count + 1, value);
                duplicateRows++;
                continue;
            }

            indexByTime[time] = points.Count;
            points.Add(new TimeSeriesPoint(time, value, row));
        }

        if (points.Count == 0)
        {
            throw new TimeSeriesFormatException($"{source} has no data rows (expected lines of 'timestamp,value').");
        }

        foreach (var (index, (sum, count, last)) in repeated ?? [])
        {
            var merged = duplicates switch
            {
                DuplicateTimestamps.Sum => sum,
                DuplicateTimestamps.Last => last,
                _ => sum / count,
            };
            points[index] = points[index] with { Value = merged };
        }

        report = new DuplicateReport(duplicates, duplicateRows, repeated?.Count ?? 0);
        return points;
    }

    private static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time)
        && text.Length >= 10 && char.IsAsciiDigit(text[0]);

    private static string Trim(string text) => text.Length <= 40 ? text : text[..40] + "…";
}

/// <summary>What to do with rows that repeat a timestamp.</summary>
public enum DuplicateTimestamps
{
    /// <summary>Average them (the default: a repeated sample of a gauge or a rate).</summary>
    Mean,

    /// <summary>Add them up (counts split over several rows).</summary>
    Sum,

    /// <summary>Keep the last one in file order.</summary>
    Last,

    /// <summary>Refuse the file, naming the first repeated row.</summary>
    Error,
}

/// <summary>How many rows repeated a timestamp and were merged.</summary>
/// <param name="Policy">How they were merged.</param>
/// <param name="Rows">Rows merged into an earlier row with the same timestamp.</param>
/// <param name="Timestamps">Distinct timestamps that had more than one row.</param>
public sealed record DuplicateReport(DuplicateTimestamps Policy, int Rows, int Timestamps);
