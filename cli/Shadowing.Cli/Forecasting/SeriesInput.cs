using System.Text.Json;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Cli.Forecasting;

/// <summary>A series read for <c>backtest</c> or <c>risk</c>: the rows as read (repeats merged), the series on its grid, and what was done to get there.</summary>
internal sealed record SeriesRead(IReadOnlyList<TimeSeriesPoint> Points, RegularSeries Series, ResampleReport Resampling, DuplicateReport Duplicates)
{
    /// <summary>The <c>resampling</c> block of the JSON output.</summary>
    public object ToJson() => new
    {
        step = Resampling.Step.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        filled = Resampling.Filled,
        merged = Resampling.Merged,
        duplicates = new { policy = Duplicates.Policy.ToString().ToLowerInvariant(), rows = Duplicates.Rows, timestamps = Duplicates.Timestamps },
    };
}

/// <summary>Reading the inputs shared by <c>backtest</c> and <c>risk</c>.</summary>
internal static class SeriesInput
{
    /// <summary>Reads and resamples a <c>timestamp,value</c> CSV named by <paramref name="option"/>.</summary>
    /// <exception cref="UsageException">The file is missing.</exception>
    /// <exception cref="TimeSeriesFormatException">A row is invalid.</exception>
    public static SeriesRead Read(string path, DuplicateTimestamps duplicates, string option = "--input")
    {
        RequireFile(path, option);
        var points = TimeSeriesCsv.ReadFile(path, duplicates, out var duplicateReport);
        if (points.Count < 2)
        {
            throw new TimeSeriesFormatException($"{Path.GetFileName(path)} has a single data row; at least two are needed.");
        }

        var series = Resampler.Resample(points, null, out var report);
        return new SeriesRead(points, series, report, duplicateReport);
    }

    /// <summary>Fails naming the option when <paramref name="path"/> is not a file (relative paths are read from the current directory).</summary>
    public static void RequireFile(string path, string option)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"{option}: file '{path}' does not exist (looked for {Path.GetFullPath(path)}).");
        }
    }

    /// <summary>
    /// Reads labelled windows from an NAB-style JSON file (<c>{"folder/file.csv": [["start","end"], …]}</c>), taking
    /// the entry whose key ends with the input's file name.
    /// </summary>
    public static IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)> ReadWindows(string path, string input, string option)
    {
        RequireFile(path, option);
        var name = Path.GetFileName(input);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (entry.Name == name || entry.Name.EndsWith("/" + name, StringComparison.Ordinal))
                {
                    return [.. entry.Value.EnumerateArray().Select(w => (Parse(w[0].GetString()!), Parse(w[1].GetString()!)))];
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or IndexOutOfRangeException or ArgumentNullException)
        {
            // ArgumentNullException: a null start or end.
            throw new UsageException($"{option}: '{path}' is not a JSON map of file names to [[start, end], …] windows: {ex.Message}", ex);
        }

        throw new UsageException($"{option}: '{path}' has no windows for '{name}'.");
    }

    /// <summary>The file names (without folders) an NAB-style windows file has windows for.</summary>
    public static IReadOnlySet<string> WindowFileNames(string path, string option)
    {
        RequireFile(path, option);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            return document.RootElement.EnumerateObject().Select(e => Path.GetFileName(e.Name)).ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new UsageException($"{option}: '{path}' is not a JSON map of file names to [[start, end], …] windows: {ex.Message}", ex);
        }
    }

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);
}
