using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Pae;

namespace Shadowing.Forecasting.Tests.Pae;

public sealed class PaeOptionsTests
{
    [Theory]
    [InlineData(2, 0.5, 1)]
    [InlineData(8, 0.5, 4)]
    [InlineData(1, 0.5, 1)]
    [InlineData(4, 0.01, 1)]
    [InlineData(4, 1.0, 4)]
    public void TrainingThreads_NotSet_IsTheShareOfTheCores_AtLeastOne(int cores, double share, int expected)
    {
        var options = new PaeOptions { TrainingCoreShare = share };

        Assert.Equal(expected, options.TrainingThreads(cores));
    }

    [Fact]
    public void TrainingThreads_Set_WinsOverTheShare()
    {
        var options = new PaeOptions { TrainingCoreShare = 0.5, Forecaster = new ForecasterOptions { Threads = 3 } };

        Assert.Equal(3, options.TrainingThreads(16));
    }

    [Fact]
    public void Validate_AHorizonOfMoreStepsThanItsWaitingForecastsFitIn_IsRefusedNamingTheSetting()
    {
        var result = new PaeOptionsValidator().Validate(null, new PaeOptions { Step = TimeSpan.FromMinutes(5), Horizon = TimeSpan.FromHours(12.5) });

        Assert.True(result.Failed);
        Assert.Contains("Pae:Horizon (12:30:00) spans 150 steps of Pae:Step (00:05:00); at most 144", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new PaeOptionsValidator().Validate(null, new PaeOptions { Step = TimeSpan.FromMinutes(5), Horizon = TimeSpan.FromHours(12) }).Succeeded);
    }

    [Fact]
    public void MaxHorizonSteps_TheWaitingForecastsAtItFitInOneDaprStateValue()
    {
        // Each origin leaves one forecast per step ahead waiting until its target: H(H+1)/2 of them, every candidate's
        // median and p90, at demand values of realistic magnitude (all digits of a float); and a score per horizon and
        // candidate, with every digit of a double.
        const int H = PaeOptions.MaxHorizonSteps;
        var start = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        var state = new Shadowing.Forecasting.Accountability.ScoreboardState { Step = TimeSpan.FromMinutes(5), LastOrigin = start };
        for (var origin = 0; origin < H; origin++)
        {
            for (var h = origin + 1; h <= H; h++)
            {
                var values = Enumerable.Range(0, CandidateForecasts.Count + 1).Select(i => 12345.6789f + (origin * 7.123f) + (i * 0.37f)).ToArray();
                state.Pending.Add(new() { Target = start.AddMinutes(5 * (h - origin)), Horizon = h, P50 = values, P90 = [.. values.Select(v => v * 1.13f)] });
            }
        }

        for (var h = 1; h <= H; h++)
        {
            foreach (var method in Enum.GetValues<ForecastMethod>().Select(m => (ForecastMethod?)m).Append(null))
            {
                state.Scores.Add(new() { Horizon = h, Method = method, Scored = 2016, Weight = 287.123456789012, AbsError = 123456.789012345, AbsActual = 1234567.89012345, Error = -2345.67890123456, PeakWeight = 28.7123456789012, PeakError = 12345.6789012345, Covered = 258.123456789012 });
            }
        }

        var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(state, Shadowing.Core.Serialization.ShadowingJson.Options).Length;

        Assert.Equal(H * (H + 1) / 2, state.Pending.Count);
        Assert.InRange(bytes, 1, 4 * 1024 * 1024);
    }

    [Theory]
    [InlineData("Mars/Olympus_Mons", "Pae:TimeZone: unknown time zone 'Mars/Olympus_Mons'")]
    [InlineData("America/New York", "Pae:TimeZone: unknown time zone 'America/New York'")]
    public void Validate_AnUnknownTimeZone_NamesTheSetting(string zone, string expected)
    {
        var result = new PaeOptionsValidator().Validate(null, new PaeOptions { TimeZone = zone });

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new PaeOptionsValidator().Validate(null, new PaeOptions { TimeZone = " " }).Succeeded); // empty: UTC, as an empty HolidayCountry is none
    }

    [Fact]
    public void HolidayCalendar_IsTheCountrysInTheTimeZone()
    {
        var calendar = new PaeOptions { HolidayCountry = "DE", TimeZone = "Europe/Berlin" }.HolidayCalendar();
        var none = new PaeOptions { HolidayCountry = "", TimeZone = "Asia/Tokyo" }.HolidayCalendar();

        Assert.Equal("DE", Assert.IsType<PublicHolidayCalendar>(calendar).CountryCode);
        Assert.Equal("Europe/Berlin", calendar.TimeZone.Id);
        Assert.IsType<NoHolidays>(none);
        Assert.Equal("Asia/Tokyo", none.TimeZone.Id);
        Assert.Equal(TimeZoneInfo.Utc, new PaeOptions().HolidayCalendar().TimeZone);
        Assert.Equal(TimeZoneInfo.Utc, new PaeOptions { TimeZone = "" }.HolidayCalendar().TimeZone);
    }

    [Theory]
    [InlineData("00:07:00", "00:01:00", "Pae:Step (00:07:00) must divide a day")]
    [InlineData("00:05:00", "00:05:00", "Pae:SettleTime (00:05:00) must be shorter than Pae:Step")]
    public void Validate_AStepThatDoesNotDivideADay_OrASettleTimeOfAWholeStep_NamesTheSetting(string step, string settle, string expected)
    {
        var options = new PaeOptions { Step = TimeSpan.Parse(step, System.Globalization.CultureInfo.InvariantCulture), SettleTime = TimeSpan.Parse(settle, System.Globalization.CultureInfo.InvariantCulture) };

        var result = new PaeOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new PaeOptionsValidator().Validate(null, new PaeOptions()).Succeeded);
    }

    [Fact]
    public void Validate_AMinHistoryLongerThanTheHistoryRead_NamesBothSettings()
    {
        var options = new PaeOptions { History = TimeSpan.FromHours(12) }; // the planner's default MinHistory is a day

        var result = new PaeOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Pae:Planner:MinHistory (1.00:00:00) must not be longer than Pae:History (12:00:00)", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AHistoryThatIsNotWholeSteps_NamesTheSetting()
    {
        // 28 days and 2 minutes of 5-minute steps: the last step of every run would hold 2 minutes of demand.
        var options = new PaeOptions { History = TimeSpan.FromDays(28) + TimeSpan.FromMinutes(2) };

        var result = new PaeOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Pae:History (28.00:02:00) must be a whole number of Pae:Step (00:05:00)", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AHorizonShorterThanTheLeadTime_OrASettleTimeUnderASecond_NamesTheSetting()
    {
        var shortHorizon = new PaeOptionsValidator().Validate(null, new PaeOptions { Horizon = TimeSpan.FromMinutes(10) });
        var noSettle = OptionsChecksResult(new PaeOptions { SettleTime = TimeSpan.FromMilliseconds(500) });

        Assert.Contains("Pae:Horizon (00:10:00) must be at least Pae:Planner:LeadTime (00:15:00)", shortHorizon.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("SettleTime", noSettle, StringComparison.Ordinal);
        Assert.True(new PaeOptionsValidator().Validate(null, new PaeOptions { Horizon = TimeSpan.FromMinutes(15) }).Succeeded);

        static string OptionsChecksResult(PaeOptions options) => new PaeOptionsValidator().Validate(null, options).FailureMessage ?? string.Empty;
    }

    [Theory]
    [InlineData(null, "LatencyP90,Errors,Cpu,Memory,Io")]
    [InlineData("Errors", "Errors")]
    [InlineData("", "")]
    public void RiskMetrics_AConfiguredListReplacesTheDefault_AnEmptyValueScoresNone(string? configured, string expected)
    {
        var settings = new Dictionary<string, string?>();
        if (configured is { Length: > 0 })
        {
            settings["Pae:RiskMetrics:0"] = configured;
        }
        else if (configured is not null)
        {
            settings["Pae:RiskMetrics"] = configured;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        using var provider = new ServiceCollection().AddShadowingPae(configuration).BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<PaeOptions>>().Value;

        Assert.Equal(expected, string.Join(",", options.RiskMetrics));
    }
}
