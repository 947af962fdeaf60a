using System.Text.Json;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Cli.Forecasting;

/// <summary>Reading the inputs shared by <c>backtest</c> and <c>risk</c>.</summary>
internal static class SeriesInput
{
    /// <summary>Reads and resamples a <c>timestamp,value</c> CSV.</summary>
    public static (IReadOnlyList<TimeSeriesPoint> Points, RegularSeries Series, ResampleReport Report) Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new TimeSeriesFormatException($"Input file '{path}' does not exist.");
        }

        var points = TimeSeriesCsv.ReadFile(path);
        if (points.Count < 2)
        {
            throw new TimeSeriesFormatException($"{Path.GetFileName(path)} has a single data row; at least two are needed.");
        }

        var series = Resampler.Resample(points, null, out var report);
        return (points, series, report);
    }

    /// <summary>
    /// Reads labelled windows from an NAB-style JSON file (<c>{"folder/file.csv": [["start","end"], …]}</c>), taking
    /// the entry whose key ends with the input's file name.
    /// </summary>
    public static IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)> ReadWindows(string path, string input)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var name = Path.GetFileName(input);
        foreach (var entry in document.RootElement.EnumerateObject())
        {
            if (entry.Name == name || entry.Name.EndsWith("/" + name, StringComparison.Ordinal))
            {
                return [.. entry.Value.EnumerateArray().Select(w => (Parse(w[0].GetString()!), Parse(w[1].GetString()!)))];
            }
        }

        throw new TimeSeriesFormatException($"{Path.GetFileName(path)} has no windows for '{name}'.");
    }

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);
}
