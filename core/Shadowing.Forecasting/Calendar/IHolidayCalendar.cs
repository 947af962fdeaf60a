using System.Collections.Concurrent;
using PublicHoliday;

namespace Shadowing.Forecasting.Calendar;

/// <summary>
/// The local calendar of the place demand comes from, as regressors for demand: its public holidays, and the time
/// zone in which its days start (holidays fall on local days; the forecaster reads the time of day and the day of
/// week there too, so a daily peak keeps its feature values across a daylight-saving change).
/// </summary>
public interface IHolidayCalendar
{
    /// <summary>The time zone days are counted in; UTC unless the calendar says otherwise.</summary>
    TimeZoneInfo TimeZone => TimeZoneInfo.Utc;

    /// <summary>Whether <paramref name="date"/> (a local day) is a public holiday.</summary>
    bool IsHoliday(DateOnly date);
}

/// <summary>A calendar with no holidays (for series where holidays do not matter).</summary>
/// <param name="timeZone">The time zone days are counted in; null for UTC.</param>
public sealed class NoHolidays(TimeZoneInfo? timeZone = null) : IHolidayCalendar
{
    /// <summary>The calendar in UTC.</summary>
    public static NoHolidays Instance { get; } = new();

    /// <inheritdoc />
    public TimeZoneInfo TimeZone { get; } = timeZone ?? TimeZoneInfo.Utc;

    /// <inheritdoc />
    public bool IsHoliday(DateOnly date) => false;
}

/// <summary>Time zones by id, with the reason one is refused.</summary>
public static class TimeZones
{
    /// <summary>
    /// The zone named <paramref name="id"/> (an IANA id such as America/New_York, or UTC; a Windows id where the
    /// system can map it), or null with <paramref name="problem"/> saying why not.
    /// </summary>
    public static TimeZoneInfo? Find(string? id, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(id))
        {
            problem = "give a time zone id such as America/New_York, Europe/Berlin or UTC.";
            return null;
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id.Trim());
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            problem = $"unknown time zone '{id}' (use an IANA id such as America/New_York, Europe/Berlin or UTC).";
            return null;
        }
    }
}

/// <summary>National public holidays from the PublicHoliday package, cached per year.</summary>
public sealed class PublicHolidayCalendar : IHolidayCalendar
{
    private readonly IPublicHolidays _holidays;
    private readonly ConcurrentDictionary<int, HashSet<DateOnly>> _years = new();

    /// <summary>Creates the calendar of a country by ISO 3166-1 code (US, GB, DE, FR …).</summary>
    /// <param name="countryCode">The country.</param>
    /// <param name="timeZone">The time zone its days are counted in; null for UTC.</param>
    /// <exception cref="ArgumentException">The package has no calendar for that country.</exception>
    public PublicHolidayCalendar(string countryCode, TimeZoneInfo? timeZone = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(countryCode);
        TimeZone = timeZone ?? TimeZoneInfo.Utc;
        CountryCode = countryCode.Trim().ToUpperInvariant();
        var code = CountryCode == "GB" ? "UK" : CountryCode;
        IPublicHolidays? holidays;
        try
        {
            holidays = PublicHolidayFactory.GetPublicHolidayForCountry(code);
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"No public-holiday calendar for country '{countryCode}': {ex.Message}", nameof(countryCode), ex);
        }

        _holidays = holidays ?? throw new ArgumentException($"No public-holiday calendar for country '{countryCode}'.", nameof(countryCode));
    }

    /// <summary>The country.</summary>
    public string CountryCode { get; }

    /// <inheritdoc />
    public TimeZoneInfo TimeZone { get; }

    /// <summary>Why <paramref name="countryCode"/> has no calendar, or null when it has one.</summary>
    public static string? Problem(string countryCode)
    {
        if (string.IsNullOrWhiteSpace(countryCode))
        {
            return "give an ISO 3166-1 country code such as US, GB or DE.";
        }

        try
        {
            _ = new PublicHolidayCalendar(countryCode);
            return null;
        }
        catch (ArgumentException)
        {
            return $"no public-holiday calendar for country '{countryCode}' (use an ISO 3166-1 code such as US, GB or DE).";
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Cached by the year the date falls in, from the package's lists of that year and its neighbours: a holiday observed in
    /// another year than its own (New Year's Day on a Saturday is observed on Friday 31 December, listed under the next year)
    /// counts on the day it is observed.
    /// </remarks>
    public bool IsHoliday(DateOnly date) =>
        _years.GetOrAdd(date.Year, year => [.. new[] { year - 1, year, year + 1 }.SelectMany(_holidays.PublicHolidays).Select(DateOnly.FromDateTime).Where(d => d.Year == year)]).Contains(date);
}
