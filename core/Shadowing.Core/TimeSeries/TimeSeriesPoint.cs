namespace Shadowing.Core.TimeSeries;

/// <summary>One observation as read, before resampling.</summary>
/// <param name="Time">When it was taken.</param>
/// <param name="Value">The value.</param>
/// <param name="Row">1-based line number in the source file, for error messages; 0 when not from a file.</param>
public readonly record struct TimeSeriesPoint(DateTimeOffset Time, double Value, int Row = 0);

/// <summary>Input that cannot be made into a series; the message names the row.</summary>
public sealed class TimeSeriesFormatException(string message) : FormatException(message);
