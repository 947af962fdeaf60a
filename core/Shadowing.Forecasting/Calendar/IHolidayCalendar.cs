using System.Collections.Concurrent;
using PublicHoliday;

namespace Shadowing.Forecasting.Calendar;

/// <summary>Public holidays, as regressors for demand.</summary>
public interface IHolidayCalendar
{
    /// <summary>Whether <paramref name="date"/> is a public holiday.</summary>
    bool IsHoliday(DateOnly date);
}

/// <summary>A calendar with no holidays (for series where holidays do not matter).</summary>
public sealed class NoHolidays : IHolidayCalendar
{
    /// <summary>The instance.</summary>
    public static NoHolidays Instance { get; } = new();

    /// <inheritdoc />
    public bool IsHoliday(DateOnly date) => false;
}

/// <summary>National public holidays from the PublicHoliday package, cached per year.</summary>
public sealed class PublicHolidayCalendar : IHolidayCalendar
{
    private readonly IPublicHolidays _holidays;
    private readonly ConcurrentDictionary<int, HashSet<DateOnly>> _years = new();

    /// <summary>Creates the calendar of a country by ISO 3166-1 code (US, GB, DE, FR …).</summary>
    /// <exception cref="ArgumentException">The package has no calendar for that country.</exception>
    public PublicHolidayCalendar(string countryCode)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(countryCode);
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
    public bool IsHoliday(DateOnly date) =>
        _years.GetOrAdd(date.Year, year => [.. _holidays.PublicHolidays(year).Select(DateOnly.FromDateTime)]).Contains(date);
}
