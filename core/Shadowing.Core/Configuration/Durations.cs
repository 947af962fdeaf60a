using System.Globalization;

namespace Shadowing.Core.Configuration;

/// <summary>Durations as people read them in logs and status ("5 min", "2.5 h", "1 day").</summary>
public static class Durations
{
    /// <summary>The duration in its largest whole-ish unit, with one decimal where needed.</summary>
    public static string Describe(TimeSpan duration)
    {
        var sign = duration < TimeSpan.Zero ? "-" : string.Empty;
        var d = duration.Duration();
        return sign + (d.TotalDays >= 1 ? Unit(d.TotalDays, "day", "days")
            : d.TotalHours >= 1 ? Unit(d.TotalHours, "h", "h")
            : d.TotalMinutes >= 1 ? Unit(d.TotalMinutes, "min", "min")
            : Unit(d.TotalSeconds, "s", "s"));
    }

    private static string Unit(double value, string one, string many)
    {
        var rounded = Math.Round(value, 1);
        return string.Create(CultureInfo.InvariantCulture, $"{rounded:0.#} {(rounded == 1 ? one : many)}");
    }
}
