namespace Shadowing.Core.TimeSeries;

/// <summary>The UTC clock grid that steps, slots, minutes and hours line up on, whatever offset a time carries.</summary>
public static class TimeGrid
{
    /// <summary>
    /// The start of the span of <paramref name="length"/> on the UTC clock that <paramref name="time"/> falls in
    /// (10:03 falls in the 5-minute step from 10:00), with offset zero. A length that divides a day keeps every
    /// day's spans on the same clock times.
    /// </summary>
    public static DateTimeOffset Floor(DateTimeOffset time, TimeSpan length) => new(time.UtcTicks - (time.UtcTicks % length.Ticks), TimeSpan.Zero);
}
