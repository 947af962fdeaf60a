using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Risk;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Forecasting;

/// <summary><c>shadowing risk</c>: causal failure-risk score and alarm for every row of a CSV series.</summary>
internal sealed class RiskCommand : AsyncCommand<RiskCommand.Settings>
{
    public sealed class Settings : CommonSettings
    {
        [CommandOption("-i|--input <FILE>")]
        [Description("CSV with timestamp,value rows.")]
        public string Input { get; init; } = string.Empty;

        [CommandOption("-o|--output <FILE>")]
        [Description("CSV to write: timestamp,value,score,alarm for every input row (relative to the current directory).")]
        public string Output { get; init; } = string.Empty;

        [CommandOption("--windows <FILE>")]
        [Description("NAB-style JSON of labelled windows: count alarms inside and outside them.")]
        public string? Windows { get; init; }

        [CommandOption("--duplicates <POLICY>")]
        [Description("Rows that repeat a timestamp: mean (default), sum, last, or error. The output has one row per distinct timestamp.")]
        [TypeConverter(typeof(NamedEnumConverter<DuplicateTimestamps>))]
        public DuplicateTimestamps Duplicates { get; init; } = DuplicateTimestamps.Mean;

        [CommandOption("--counts")]
        [Description("The values count events (requests, errors per step): deviations are measured to at least one event, as the PAE measures those metrics.")]
        public bool Counts { get; init; }

        [CommandOption("--json")]
        [Description("Print a JSON summary on standard output.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Input) ? ValidationResult.Error("--input is required")
            : string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output is required")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var input = SeriesInput.Read(settings.Input, settings.Duplicates);
        var windows = settings.Windows is null ? [] : SeriesInput.ReadWindows(settings.Windows, settings.Input, "--windows");
        var series = input.Series;
        var risk = new FailureRiskScorer(new RiskOptions()).Score(series, minScale: settings.Counts ? 1 : 0);
        var rows = new StringBuilder("timestamp,value,score,alarm\n");
        var alarmAt = new List<DateTimeOffset>();
        var previousAlarm = false;
        foreach (var point in input.Points)
        {
            var index = (int)Math.Round((point.Time - series.Start).Ticks / (double)series.Step.Ticks);
            var alarm = risk.Alarms[index];
            rows.Append(CultureInfo.InvariantCulture, $"{point.Time.UtcDateTime:yyyy-MM-dd HH:mm:ss},{point.Value.ToString(CultureInfo.InvariantCulture)},{risk.Scores[index]:F4},{(alarm ? 1 : 0)}\n");
            if (alarm && !previousAlarm)
            {
                alarmAt.Add(point.Time);
            }

            previousAlarm = alarm;
        }

        var output = Path.GetFullPath(settings.Output);
        if (!Directory.Exists(Path.GetDirectoryName(output)))
        {
            throw new UsageException($"--output: folder '{Path.GetDirectoryName(output)}' does not exist.");
        }

        await File.WriteAllTextAsync(output, rows.ToString(), cancellationToken).ConfigureAwait(false);
        var inside = alarmAt.Where(a => windows.Any(w => a >= w.Start && a <= w.End)).ToArray();
        var summary = new Dictionary<string, object?>
        {
            ["input"] = Path.GetFileName(settings.Input),
            ["rows"] = input.Points.Count,
            ["filled"] = input.Resampling.Filled,
            ["resampling"] = input.ToJson(),
            ["alarms"] = alarmAt.Count,
            ["alarmStarts"] = alarmAt.Select(a => a.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)).ToArray(),
            ["alarmsInsideWindows"] = settings.Windows is null ? null : inside.Length,
            ["alarmsOutsideWindows"] = settings.Windows is null ? null : alarmAt.Count - inside.Length,
            ["windows"] = windows.Select(w => new
            {
                start = w.Start.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                end = w.End.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                firstAlarm = alarmAt.Where(a => a >= w.Start && a <= w.End).Select(a => a.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)).FirstOrDefault(),
            }).ToArray(),
        };
        if (settings.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(summary));
        }
        else
        {
            var repeats = input.Duplicates.Rows > 0 ? $"; {input.Duplicates.Rows} row(s) repeating a timestamp merged ({input.Duplicates.Policy.ToString().ToLowerInvariant()})" : string.Empty;
            AnsiConsole.MarkupLineInterpolated($"Wrote {input.Points.Count} rows to {settings.Output}: {alarmAt.Count} alarm(s){(settings.Windows is null ? string.Empty : $", {inside.Length} inside labelled windows, {alarmAt.Count - inside.Length} outside")}{repeats}.");
        }

        return ExitCodes.Ok;
    }
}
