using System.Text.Json;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Backtesting;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Risk;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Forecasting.Tests.Data;

/// <summary>
/// The accuracy and risk targets on the real series in ../shared/data/nab. Each test skips with a message
/// when that folder is absent (it is never copied into the repository).
/// </summary>
public sealed class NabTests
{
    [Fact]
    public void NycTaxi_FiveStepsAhead_BeatsPublishedWapeTargets()
    {
        var path = RepositoryFiles.RequireNab("nyc_taxi.csv");
        var series = Read(path);
        var events = EventCalendar.ReadCsv(RepositoryFiles.RequireNab("nyc_taxi.events.csv"));
        var backtester = new Backtester(new DemandForecaster(new ForecasterOptions(), new PublicHolidayCalendar("US"), TimeProvider.System), TimeProvider.System);

        var result = backtester.Run(series, new BacktestOptions(5, 6500, 10314, 336), events, Windows("nyc_taxi.csv"));

        Report(result);
        Assert.Equal(3815, result.Forecast.Points);
        Assert.Equal(0.153, result.SeasonalNaiveWeekWape!.Value, 3); // the published weekly seasonal-naive anchor
        Assert.True(result.Forecast.Wape <= 0.085, $"WAPE {result.Forecast.Wape:F4} must be at most 0.085");
        Assert.True(result.ExcludingWindows!.Wape <= 0.065, $"WAPE outside the anomaly windows {result.ExcludingWindows.Wape:F4} must be at most 0.065");
    }

    [Theory]
    [InlineData("elb_request_count_8c0756.csv", 6)]
    [InlineData("ec2_cpu_utilization_5f5533.csv", 6)]
    public void AwsSeries_SecondWeek_BeatsBothSeasonalNaiveBaselines(string file, int horizon)
    {
        var series = Read(RepositoryFiles.RequireNab(file));
        var backtester = new Backtester(new DemandForecaster(new ForecasterOptions(), new PublicHolidayCalendar("US"), TimeProvider.System), TimeProvider.System);

        var result = backtester.Run(series, new BacktestOptions(horizon, series.Count / 2, series.Count - 1, 2016), EventCalendar.Empty);

        Report(result);
        Assert.True(result.Forecast.Wape < result.SeasonalNaiveDayWape, $"{file}: WAPE {result.Forecast.Wape:F4} vs daily seasonal naive {result.SeasonalNaiveDayWape:F4}");
        Assert.True(result.Forecast.Wape < result.SeasonalNaiveWeekWape, $"{file}: WAPE {result.Forecast.Wape:F4} vs weekly seasonal naive {result.SeasonalNaiveWeekWape:F4}");
    }

    [Fact]
    public void FailureRisk_LeaveOneSeriesOut_BeatsARollingRobustZScoreOnSeriesItWasNotTunedOn()
    {
        // Every labelled series, each scored with the settings that did best on the other thirteen: nothing is tuned on
        // what it is scored on. The plain rolling robust z-score goes through the same procedure.
        var folder = Path.GetDirectoryName(RepositoryFiles.RequireNab("anomaly_windows.json"))!;
        var data = Directory.GetFiles(folder, "*.csv").Where(f => !f.EndsWith(".events.csv", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(f => new LabelledSeries(Path.GetFileNameWithoutExtension(f), Read(f), Windows(Path.GetFileName(f))))
            .ToArray();

        var seasonal = RiskEvaluation.LeaveOneSeriesOut(data, new RiskOptions());
        var rolling = RiskEvaluation.LeaveOneSeriesOut(data, new RiskOptions { Seasonal = false });

        TestContext.Current.SendDiagnosticMessage($"held-out NAB-style score: seasonal {seasonal.Total.Normalized:F1} ({seasonal.Total.Detected} of {seasonal.Total.Detected + seasonal.Total.Missed} windows, {seasonal.Total.FalseAlarms} false alarms), rolling z {rolling.Total.Normalized:F1}; chosen on all: {seasonal.OnAll}");
        Assert.Equal(14, data.Length);
        Assert.True(seasonal.Total.Normalized > rolling.Total.Normalized, $"seasonal {seasonal.Total.Normalized:F1} vs rolling {rolling.Total.Normalized:F1}");
        var defaults = new RiskOptions();
        Assert.Equal(seasonal.OnAll, new RiskSettings(defaults.ZThreshold, defaults.Smoothing, defaults.Persistence)); // the shipped defaults are the procedure's choice
    }

    private static RegularSeries Read(string path) => Resampler.Resample(TimeSeriesCsv.ReadFile(path), null, out _);

    private static IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)> Windows(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(RepositoryFiles.RequireNab("anomaly_windows.json")));
        var entry = document.RootElement.EnumerateObject().Single(p => p.Name.EndsWith("/" + file, StringComparison.Ordinal));
        return [.. entry.Value.EnumerateArray().Select(w => (Parse(w[0].GetString()!), Parse(w[1].GetString()!)))];
    }

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);

    private static void Report(BacktestResult result) =>
        TestContext.Current.SendDiagnosticMessage(
            $"h={result.Horizon}: WAPE {result.Forecast.Wape:F4} (outside windows {result.ExcludingWindows?.Wape:F4}), coverage {result.Forecast.CoverageP90:F3}, day baseline {result.SeasonalNaiveDayWape:F4}, week baseline {result.SeasonalNaiveWeekWape:F4}");
}
