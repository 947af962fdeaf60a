using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Backtesting;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Forecasting;

/// <summary><c>shadowing backtest</c>: rolling-origin evaluation of the demand forecaster on a CSV series.</summary>
internal sealed class BacktestCommand : AsyncCommand<BacktestCommand.Settings>
{
    public sealed class Settings : CommonSettings
    {
        [CommandOption("-i|--input <FILE>")]
        [Description("CSV with timestamp,value rows.")]
        public string Input { get; init; } = string.Empty;

        [CommandOption("-H|--horizon <STEPS>")]
        [Description("Steps ahead of each origin.")]
        public int Horizon { get; init; }

        [CommandOption("--start-index <I>")]
        [Description("First origin (0-based index of the resampled series, at least 1: an origin needs a value before it). Default: the middle of the series.")]
        public int? StartIndex { get; init; }

        [CommandOption("--end-index <J>")]
        [Description("Last origin, inclusive. Default: the last origin whose target is in the series.")]
        public int? EndIndex { get; init; }

        [CommandOption("--retrain-every <K>")]
        [Description("Origins between retrainings. Default: one week of steps (one day when the step is a day or more).")]
        public int? RetrainEvery { get; init; }

        [CommandOption("--max-bins-per-feature <N>")]
        [Description("LightGBM's histogram bins per feature, 2 to 1024. Default: the PAE's (Pae:Forecaster:MaxBinsPerFeature, 63).")]
        public int? MaxBinsPerFeature { get; init; }

        [CommandOption("--events <FILE>")]
        [Description("Event calendar CSV: start,end,name,kind[[,multiplier]].")]
        public string? Events { get; init; }

        [CommandOption("--holidays <COUNTRY>")]
        [Description("Public holidays of this country (ISO code, e.g. US) as features. Default: none.")]
        public string? Holidays { get; init; }

        [CommandOption("--time-zone <ID>")]
        [Description("Time zone of the calendar features (holidays, time of day, day of week), e.g. America/New_York, for a series stamped in UTC. Default: the timestamps as written.")]
        public string? TimeZone { get; init; }

        [CommandOption("--exclude-windows <FILE>")]
        [Description("NAB-style JSON of labelled windows; also scores the targets outside them.")]
        public string? ExcludeWindows { get; init; }

        [CommandOption("--duplicates <POLICY>")]
        [Description("Rows that repeat a timestamp: mean (default), sum, last, or error.")]
        [TypeConverter(typeof(NamedEnumConverter<DuplicateTimestamps>))]
        public DuplicateTimestamps Duplicates { get; init; } = DuplicateTimestamps.Mean;

        [CommandOption("--json")]
        [Description("Print one JSON object on standard output.")]
        public bool Json { get; init; }

        [CommandOption("--output <FILE>")]
        [Description("Write every scored forecast as CSV: time,actual,p50,p90,method.")]
        public string? Output { get; init; }

        [CommandOption("--plot <FILE>")]
        [Description("Draw actual vs forecast with the p50–p90 band to a PNG file.")]
        public string? Plot { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Input) ? ValidationResult.Error("--input is required")
            : Horizon < 1 ? ValidationResult.Error("--horizon is required and must be at least 1")
            : StartIndex is < 1 ? ValidationResult.Error($"--start-index must be at least 1 (an origin needs a value before it), not {StartIndex}")
            : EndIndex is < 0 ? ValidationResult.Error("--end-index must not be negative")
            : StartIndex is { } s && EndIndex is { } e && e < s ? ValidationResult.Error($"--end-index ({e}) must not be before --start-index ({s})")
            : RetrainEvery is < 1 ? ValidationResult.Error("--retrain-every must be at least 1")
            : MaxBinsPerFeature is < 2 or > 1024 ? ValidationResult.Error($"--max-bins-per-feature must be between 2 and 1024, not {MaxBinsPerFeature}")
            : Holidays is not null && PublicHolidayCalendar.Problem(Holidays) is { } problem ? ValidationResult.Error("--holidays: " + problem)
            : TimeZone is not null && TimeZones.Find(TimeZone, out var zoneProblem) is null ? ValidationResult.Error("--time-zone: " + zoneProblem)
            : ValidationResult.Success();
    }

    public override Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var input = SeriesInput.Read(settings.Input, settings.Duplicates);
        var series = input.Series;
        if (settings.Events is not null)
        {
            SeriesInput.RequireFile(settings.Events, "--events");
        }

        var events = settings.Events is null ? EventCalendar.Empty : EventCalendar.ReadCsv(settings.Events);
        var zone = settings.TimeZone is null ? null : TimeZones.Find(settings.TimeZone, out _);
        IHolidayCalendar holidays = settings.Holidays is null ? new NoHolidays(zone) : new PublicHolidayCalendar(settings.Holidays, zone);
        var windows = settings.ExcludeWindows is null ? null : SeriesInput.ReadWindows(settings.ExcludeWindows, settings.Input, "--exclude-windows");
        var day = series.StepsIn(TimeSpan.FromDays(1));
        var week = series.StepsIn(TimeSpan.FromDays(7));
        var options = new BacktestOptions(
            settings.Horizon,
            settings.StartIndex ?? series.Count / 2,
            settings.EndIndex ?? series.Count - 1,
            settings.RetrainEvery ?? (week > 0 && day >= 2 ? week : Math.Max(1, day)));
        if (Backtester.Problem(series.Count, options) is { } problem)
        {
            throw new UsageException(problem);
        }

        // Checked before the run, which can take minutes.
        foreach (var (option, path) in new[] { ("--output", settings.Output), ("--plot", settings.Plot) })
        {
            if (path is not null && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(path))))
            {
                throw new UsageException($"{option}: folder '{Path.GetDirectoryName(Path.GetFullPath(path))}' does not exist.");
            }
        }

        var forecaster = new ForecasterOptions();
        if (settings.MaxBinsPerFeature is { } bins)
        {
            forecaster.MaxBinsPerFeature = bins;
        }

        var backtester = new Backtester(new DemandForecaster(forecaster, holidays, TimeProvider.System), TimeProvider.System);
        var result = Terminal.WithProgress(
            $"Backtesting {Path.GetFileName(settings.Input)}",
            progress => backtester.Run(series, options, events, windows, progress, cancellationToken));

        if (settings.Plot is not null)
        {
            BacktestPlot.Save(result, settings.Plot, Path.GetFileName(settings.Input));
        }

        if (settings.Output is not null)
        {
            WritePoints(result, settings.Output);
        }

        if (settings.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(ToJson(settings, result, input), new JsonSerializerOptions { WriteIndented = false }));
        }
        else
        {
            Print(settings, result, input);
        }

        return Task.FromResult(ExitCodes.Ok);
    }

    private static object ToJson(Settings settings, BacktestResult result, SeriesRead input) => new Dictionary<string, object?>
    {
        ["input"] = Path.GetFileName(settings.Input),
        ["horizon"] = result.Horizon,
        ["step"] = result.Step.ToString("c", CultureInfo.InvariantCulture),
        ["points"] = result.Forecast.Points,
        ["wape"] = Round(result.Forecast.Wape),
        ["nrmse"] = Round(result.Forecast.Nrmse),
        ["mase"] = Round(result.Forecast.Mase),
        ["coverageP90"] = Round(result.Forecast.CoverageP90),
        ["bias"] = Round(result.Forecast.Bias),
        ["peakBias"] = Round(result.Forecast.PeakBias),
        ["peakCoverageP90"] = Round(result.Forecast.PeakCoverageP90),
        ["forecastPeakBias"] = Round(result.Forecast.ForecastPeakBias),
        ["trainSeconds"] = Math.Round(result.TrainSeconds, 2),
        ["trainings"] = result.Trainings,
        ["ratioToBestBaseline"] = Round(result.RatioToBestBaseline),
        ["methods"] = result.Points.GroupBy(p => p.Method).ToDictionary(g => g.Key.ToString(), g => g.Count()),
        ["baselines"] = new Dictionary<string, object?>
        {
            ["lastValue"] = new { wape = Round(result.LastValueWape) },
            ["seasonalNaiveDay"] = new { wape = Round(result.SeasonalNaiveDayWape) },
            ["seasonalNaiveWeek"] = result.SeasonalNaiveWeekWape is { } week ? new { wape = Round(week) } : null,
        },
        ["excludingWindows"] = result.ExcludingWindows is { } x
            ? new { points = x.Points, wape = Round(x.Wape), nrmse = Round(x.Nrmse), mase = Round(x.Mase), coverageP90 = Round(x.CoverageP90) }
            : null,
        ["resampling"] = input.ToJson(),
    };

    private static void WritePoints(BacktestResult result, string path)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine("time,actual,p50,p90,method");
        foreach (var p in result.Points)
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.Time:yyyy-MM-dd HH:mm:ss},{p.Actual:R},{p.P50:R},{p.P90:R},{p.Method}"));
        }
    }

    private static double? Round(double value) => double.IsFinite(value) ? Math.Round(value, 5) : null;

    private static void Print(Settings settings, BacktestResult result, SeriesRead input)
    {
        var table = new Table().AddColumns("", "points", "WAPE", "NRMSE", "MASE", "p90 coverage");
        table.AddRow("forecast", result.Forecast.Points.ToString(CultureInfo.InvariantCulture), F(result.Forecast.Wape), F(result.Forecast.Nrmse), F(result.Forecast.Mase), F(result.Forecast.CoverageP90));
        if (result.ExcludingWindows is { } x)
        {
            table.AddRow("forecast, outside windows", x.Points.ToString(CultureInfo.InvariantCulture), F(x.Wape), F(x.Nrmse), F(x.Mase), F(x.CoverageP90));
        }

        table.AddRow("last value", "", F(result.LastValueWape), "", "", "");
        table.AddRow("seasonal naive (day)", "", F(result.SeasonalNaiveDayWape), "", "", "");
        table.AddRow("seasonal naive (week)", "", result.SeasonalNaiveWeekWape is { } w ? F(w) : "n/a", "", "", "");
        AnsiConsole.MarkupLineInterpolated($"[bold]{Path.GetFileName(settings.Input)}[/], horizon {result.Horizon} × {result.Step}, {result.Trainings} trainings in {result.TrainSeconds:F1} s; resampling filled {input.Resampling.Filled} and merged {input.Resampling.Merged} point(s); {input.Duplicates.Rows} row(s) repeating a timestamp merged ({input.Duplicates.Policy.ToString().ToLowerInvariant()})");
        AnsiConsole.Write(table);
        var methods = string.Join(", ", result.Points.GroupBy(p => p.Method).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
        AnsiConsole.MarkupLineInterpolated($"WAPE ÷ best baseline: {F(result.RatioToBestBaseline)}; forecasts by: {methods} (chosen at each origin by recent scored errors, only data before it)");
        AnsiConsole.MarkupLineInterpolated($"bias (actual − p50): {F(result.Forecast.Bias)} overall; {F(result.Forecast.PeakBias)} over the top decile of actuals (p90 covers {F(result.Forecast.PeakCoverageP90)} of them); {F(result.Forecast.ForecastPeakBias)} over the top decile of forecasts");
    }

    private static string F(double value) => double.IsFinite(value) ? value.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
}
