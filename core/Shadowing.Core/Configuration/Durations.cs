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

    /// <summary>
    /// Reads a duration as people write it on a command line: a number with a unit (<c>90s</c>, <c>10m</c>, <c>2h</c>,
    /// <c>1d</c>) or a time span (<c>00:10:00</c>, <c>1.00:00:00</c>). Negative durations are refused.
    /// </summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        var trimmed = text?.Trim() ?? string.Empty;
        if (trimmed.Length > 1 && char.IsAsciiLetterLower(trimmed[^1]) && "smhd".Contains(trimmed[^1], StringComparison.Ordinal)
            && double.TryParse(trimmed[..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
        {
            var unit = trimmed[^1] switch { 's' => TimeSpan.FromSeconds(1), 'm' => TimeSpan.FromMinutes(1), 'h' => TimeSpan.FromHours(1), _ => TimeSpan.FromDays(1) };
            if (value * unit.Ticks > TimeSpan.MaxValue.Ticks)
            {
                return false;
            }

            duration = TimeSpan.FromTicks((long)(value * unit.Ticks));
            return true;
        }

        return TimeSpan.TryParse(trimmed, CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero && trimmed.Contains(':', StringComparison.Ordinal);
    }

    private static string Unit(double value, string one, string many)
    {
        var rounded = Math.Round(value, 1);
        return string.Create(CultureInfo.InvariantCulture, $"{rounded:0.#} {(rounded == 1 ? one : many)}");
    }
}
