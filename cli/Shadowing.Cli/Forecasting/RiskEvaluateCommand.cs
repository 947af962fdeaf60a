using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Shadowing.Forecasting.Risk;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Forecasting;

/// <summary>
/// <c>shadowing risk-evaluate</c>: the failure-risk scorer's NAB-style score on labelled series, leave one series out
/// (each series scored with the settings that did best on the others), beside a plain rolling robust z-score judged
/// the same way.
/// </summary>
internal sealed class RiskEvaluateCommand : AsyncCommand<RiskEvaluateCommand.Settings>
{
    public sealed class Settings : CommonSettings
    {
        [CommandOption("--data <FOLDER>")]
        [Description("Folder of timestamp,value CSV files; every file with windows in --windows is used.")]
        public string Data { get; init; } = string.Empty;

        [CommandOption("--windows <FILE>")]
        [Description("NAB-style JSON of labelled windows. Default: anomaly_windows.json in --data.")]
        public string? Windows { get; init; }

        [CommandOption("--json")]
        [Description("Print one JSON object on standard output.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Data) ? ValidationResult.Error("--data is required")
            : !Directory.Exists(Data) ? ValidationResult.Error($"--data: folder '{Data}' does not exist (looked for {Path.GetFullPath(Data)}).")
            : ValidationResult.Success();
    }

    public override Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var windowsFile = settings.Windows ?? Path.Combine(settings.Data, "anomaly_windows.json");
        SeriesInput.RequireFile(windowsFile, "--windows");
        var named = SeriesInput.WindowFileNames(windowsFile, "--windows");
        var labelled = new List<LabelledSeries>();
        foreach (var file in Directory.GetFiles(settings.Data, "*.csv").Where(f => named.Contains(Path.GetFileName(f))).Order(StringComparer.Ordinal))
        {
            var windows = SeriesInput.ReadWindows(windowsFile, file, "--windows");
            labelled.Add(new LabelledSeries(Path.GetFileNameWithoutExtension(file), SeriesInput.Read(file, Shadowing.Core.TimeSeries.DuplicateTimestamps.Mean).Series, windows));
        }

        if (labelled.Count < 2)
        {
            throw new UsageException($"--data: '{settings.Data}' has {labelled.Count} CSV file(s) with windows in {windowsFile}; leave-one-series-out needs at least two.");
        }

        var seasonal = Terminal.WithProgress("Scoring (seasonal)", p => RiskEvaluation.LeaveOneSeriesOut(labelled, new RiskOptions(), new Progress<int>(n => p.Report(new(n, labelled.Count, 0))), cancellationToken));
        var rolling = Terminal.WithProgress("Scoring (rolling z)", p => RiskEvaluation.LeaveOneSeriesOut(labelled, new RiskOptions { Seasonal = false }, new Progress<int>(n => p.Report(new(n, labelled.Count, 0))), cancellationToken));
        if (settings.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                series = labelled.Select((l, i) => new
                {
                    name = l.Name,
                    windows = l.Windows.Count,
                    seasonal = Json(seasonal.Series[i]),
                    rolling = Json(rolling.Series[i]),
                }),
                total = new { seasonal = Round(seasonal.Total.Normalized), rolling = Round(rolling.Total.Normalized) },
                chosenOnAll = new { seasonal = seasonal.OnAll.ToString(), rolling = rolling.OnAll.ToString() },
            }));
            return Task.FromResult(ExitCodes.Ok);
        }

        var table = new Table().AddColumns("series", "windows", "score", "detected / false alarms", "chosen on the others: z, smoothing, persistence", "rolling z score");
        for (var i = 0; i < labelled.Count; i++)
        {
            var s = seasonal.Series[i];
            table.AddRow(
                Markup.Escape(labelled[i].Name),
                labelled[i].Windows.Count.ToString(CultureInfo.InvariantCulture),
                F(s.Score.Normalized),
                $"{s.Score.Detected} / {s.Score.FalseAlarms}",
                Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{s.Chosen.ZThreshold}, {s.Chosen.Smoothing.TotalMinutes}m, {s.Chosen.Persistence.TotalMinutes}m")),
                F(rolling.Series[i].Score.Normalized));
        }

        table.AddRow("[bold]all, held out[/]", labelled.Sum(l => l.Windows.Count).ToString(CultureInfo.InvariantCulture), F(seasonal.Total.Normalized), $"{seasonal.Total.Detected} / {seasonal.Total.FalseAlarms}", "", F(rolling.Total.Normalized));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"NAB-style scores (100 perfect, 0 never alarming), each series scored with settings chosen on the others. Chosen on every series (the shipped defaults come from this): {seasonal.OnAll}; for the rolling z-score: {rolling.OnAll}.");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static object Json(HeldOutScore score) => new
    {
        score = Round(score.Score.Normalized),
        detected = score.Score.Detected,
        missed = score.Score.Missed,
        falseAlarms = score.Score.FalseAlarms,
        chosen = score.Chosen.ToString(),
    };

    private static double? Round(double value) => double.IsFinite(value) ? Math.Round(value, 2) : null;

    private static string F(double value) => double.IsFinite(value) ? value.ToString("F1", CultureInfo.InvariantCulture) : "n/a";
}
