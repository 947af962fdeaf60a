using System.Globalization;
using System.Text.Json;
using Shadowing.Forecasting.Calendar;

namespace Shadowing.Control;

/// <summary>Reads and checks calendar events (campaigns, launches, news) from the control API and the CLI.</summary>
public static class CalendarEventJson
{
    private static readonly string[] Known = ["start", "end", "name", "kind", "expectedMultiplier"];

    /// <summary>Longest name or kind accepted.</summary>
    public const int MaxText = 200;

    /// <summary>
    /// Reads one event from <paramref name="item"/>; on a bad one, the error names the field under
    /// <paramref name="prefix"/> (for example <c>events[2].end</c>).
    /// </summary>
    public static (CalendarEvent? Event, (string Field, string Message)? Error) Parse(JsonElement item, string prefix)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            return (null, (prefix, "must be an object {start, end, name, kind, expectedMultiplier?}."));
        }

        foreach (var property in item.EnumerateObject())
        {
            if (!Known.Contains(property.Name, StringComparer.Ordinal))
            {
                return (null, ($"{prefix}.{property.Name}", $"unknown field; known: {string.Join(", ", Known)}."));
            }
        }

        if (!Time(item, "start", out var start))
        {
            return (null, ($"{prefix}.start", "required: an ISO 8601 timestamp such as 2026-12-24T18:00:00Z."));
        }

        if (!Time(item, "end", out var end))
        {
            return (null, ($"{prefix}.end", "required: an ISO 8601 timestamp such as 2026-12-24T22:00:00Z."));
        }

        double? multiplier = null;
        if (item.TryGetProperty("expectedMultiplier", out var m) && m.ValueKind != JsonValueKind.Null)
        {
            if (m.ValueKind != JsonValueKind.Number || !m.TryGetDouble(out var read) || !double.IsFinite(read))
            {
                return (null, ($"{prefix}.expectedMultiplier", "must be a positive number (2 = double the usual demand)."));
            }

            multiplier = read;
        }

        var candidate = new CalendarEvent(start, end, Text(item, "name"), Text(item, "kind"), multiplier);
        return Check(candidate) is { } problem ? (null, ($"{prefix}.{problem.Field}", problem.Message)) : (candidate, null);
    }

    /// <summary>What is wrong with <paramref name="calendarEvent"/> (the field and why), or null.</summary>
    public static (string Field, string Message)? Check(CalendarEvent calendarEvent)
    {
        ArgumentNullException.ThrowIfNull(calendarEvent);
        if (calendarEvent.End <= calendarEvent.Start)
        {
            return ("end", $"{calendarEvent.End:u} is not after start {calendarEvent.Start:u}.");
        }

        if (string.IsNullOrWhiteSpace(calendarEvent.Name) || calendarEvent.Name.Length > MaxText)
        {
            return ("name", $"required: 1 to {MaxText} characters.");
        }

        if (string.IsNullOrWhiteSpace(calendarEvent.Kind) || calendarEvent.Kind.Length > MaxText)
        {
            return ("kind", $"required: 1 to {MaxText} characters, for example campaign, launch or news.");
        }

        if (calendarEvent.ExpectedMultiplier is { } m && (!double.IsFinite(m) || m <= 0))
        {
            return ("expectedMultiplier", "must be a positive number (2 = double the usual demand).");
        }

        return null;
    }

    private static bool Time(JsonElement item, string name, out DateTimeOffset time)
    {
        time = default;
        return item.TryGetProperty(name, out var value)
            && value.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }

    private static string Text(JsonElement item, string name) =>
        item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : string.Empty;
}
