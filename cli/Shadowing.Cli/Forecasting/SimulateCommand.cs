using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.TimeSeries;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Simulation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Forecasting;

/// <summary><c>shadowing simulate</c>: would proactive shadowing have helped on this trace, against reactive autoscaling, a schedule and hourly predictive scaling?</summary>
internal sealed class SimulateCommand : AsyncCommand<SimulateCommand.Settings>
{
    private static readonly Dictionary<string, ScalingPolicy> Policies = new(StringComparer.OrdinalIgnoreCase)
    {
        ["proactive"] = ScalingPolicy.Proactive,
        ["reactive"] = ScalingPolicy.Reactive,
        ["scheduled"] = ScalingPolicy.Scheduled,
        ["predictive-hourly"] = ScalingPolicy.PredictiveHourly,
    };

    public sealed class Settings : CommonSettings
    {
        [CommandOption("-t|--trace <FILE>")]
        [Description("Demand trace: CSV with timestamp,value rows (requests per step). Its first half is history, its second half is simulated.")]
        public string Trace { get; init; } = string.Empty;

        [CommandOption("-p|--policy <POLICY>")]
        [Description("proactive, reactive, scheduled, predictive-hourly or all (default).")]
        public string Policy { get; init; } = "all";

        /// <summary>Whether <see cref="Policy"/> asks for every policy (any case, as the policies' names are read).</summary>
        public bool IsAll => string.Equals(Policy, "all", StringComparison.OrdinalIgnoreCase);

        [CommandOption("--capacity-per-endpoint <N>")]
        [Description("Requests per trace step one endpoint serves at full load. Default: the history's 90th percentile × 1.1 / (2 production endpoints × SLO utilisation).")]
        public double? CapacityPerEndpoint { get; init; }

        [CommandOption("--cold-start <DURATION>")]
        [Description("From launch to serving for a new endpoint, e.g. 10m, 90s, 00:10:00. Default 10m.")]
        public string ColdStart { get; init; } = "10m";

        [CommandOption("--slo-utilization <U>")]
        [Description("Share of capacity the SLO allows: demand above ready capacity × U is a violation. Default 0.8.")]
        public double SloUtilization { get; init; } = 0.8;

        [CommandOption("--duplicates <POLICY>")]
        [Description("Rows that repeat a timestamp: mean (default), sum, last, or error.")]
        [TypeConverter(typeof(NamedEnumConverter<DuplicateTimestamps>))]
        public DuplicateTimestamps Duplicates { get; init; } = DuplicateTimestamps.Mean;

        [CommandOption("--json")]
        [Description("Print one JSON object on standard output.")]
        public bool Json { get; init; }

        [CommandOption("--plot <FILE>")]
        [Description("Draw demand, each policy's ready capacity and the SLO violations to a PNG file.")]
        public string? Plot { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Trace) ? ValidationResult.Error("--trace is required")
            : !IsAll && !Policies.ContainsKey(Policy) ? ValidationResult.Error($"--policy: '{Policy}' is not one of proactive, reactive, scheduled, predictive-hourly, all")
            : CapacityPerEndpoint is { } c && !(double.IsFinite(c) && c > 0) ? ValidationResult.Error("--capacity-per-endpoint must be a positive number")
            : !Durations.TryParse(ColdStart, out _) ? ValidationResult.Error($"--cold-start: '{ColdStart}' is not a duration such as 10m, 90s or 00:10:00")
            : !(SloUtilization > 0 && SloUtilization <= 1) ? ValidationResult.Error("--slo-utilization must be in (0, 1]")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var series = SeriesInput.Read(settings.Trace, settings.Duplicates, "--trace").Series;
        if (settings.Plot is not null && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(settings.Plot))))
        {
            throw new UsageException($"--plot: folder '{Path.GetDirectoryName(Path.GetFullPath(settings.Plot))}' does not exist.");
        }

        Durations.TryParse(settings.ColdStart, out var coldStart);
        var options = new SimulationOptions { CapacityPerEndpoint = settings.CapacityPerEndpoint, ColdStart = coldStart, SloUtilization = settings.SloUtilization };
        IReadOnlyList<ScalingPolicy> policies = settings.IsAll ? [.. Policies.Values] : [Policies[settings.Policy]];
        var pae = new PaeOptions();
        // Trains as the embedded host's PAE does, on its share of the cores: on a trace's small training sets (about
        // 1,300 examples a day on nyc_taxi) one LightGBM thread was faster than two, which mostly wait for each other.
        pae.Forecaster.Threads = pae.TrainingThreads(Environment.ProcessorCount);
        var holidays = pae.HolidayCalendar();

        // The planner's requests go through the real request store, on a store of their own that nothing else sees.
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        await using var bus = new InProcessEventBus(store, TimeProvider.System, Options.Create(new InProcessEventBusOptions()), NullLogger<InProcessEventBus>.Instance);
        var simulator = new PolicySimulator(pae, holidays, store, bus, TimeProvider.System);
        var started = TimeProvider.System.GetTimestamp();
        SimulationResult result;
        try
        {
            result = await simulator.RunAsync(series, policies, options, Terminal.Lines, cancellationToken).ConfigureAwait(false);
        }
        catch (SimulationInputException ex)
        {
            throw new UsageException($"--trace '{settings.Trace}': {ex.Message}{(ex.Message.EndsWith("give one.", StringComparison.Ordinal) ? " (--capacity-per-endpoint)" : string.Empty)}", ex);
        }

        var seconds = TimeProvider.System.GetElapsedTime(started).TotalSeconds;
        if (settings.Plot is not null)
        {
            SimulatePlot.Save(result, settings.Plot, Path.GetFileName(settings.Trace));
        }

        if (settings.Json)
        {
            var rows = result.Outcomes.Select(o => new
            {
                policy = Name(o.Policy),
                sloViolationMinutes = o.SloViolationMinutes,
                spikes = o.Spikes,
                spikesCoveredBeforeOnset = o.SpikesCoveredBeforeOnset,
                capacityHours = Math.Round(o.CapacityHours, 2),
                coldStarts = o.ColdStarts,
            }).ToArray();
            object output = rows.Length == 1 ? rows[0] : new
            {
                trace = Path.GetFileName(settings.Trace),
                from = result.From,
                to = result.To,
                capacityPerEndpoint = result.CapacityPerEndpoint,
                usablePerEndpoint = result.UsablePerEndpoint,
                productionEndpoints = result.ProductionEndpoints,
                coldStartMinutes = coldStart.TotalMinutes,
                sloUtilization = settings.SloUtilization,
                elapsedSeconds = Math.Round(seconds, 1),
                policies = rows,
            };
            Console.Out.WriteLine(JsonSerializer.Serialize(output));
            return ExitCodes.Ok;
        }

        AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{Path.GetFileName(settings.Trace)}: simulated {result.From:u} to {result.To:u}; one endpoint serves {result.CapacityPerEndpoint:F1} requests per {Durations.Describe(result.Step)} ({result.UsablePerEndpoint:F1} within the SLO at {settings.SloUtilization:P0}); production {result.ProductionEndpoints} endpoints; cold start {Durations.Describe(coldStart)}; {result.Spikes.Count} spike(s).");
        var table = new Table().AddColumns("policy", "SLO-violation minutes", "spikes covered before onset", "capacity-hours", "cold starts");
        foreach (var o in result.Outcomes)
        {
            table.AddRow(Name(o.Policy), o.SloViolationMinutes.ToString("N0", CultureInfo.InvariantCulture), $"{o.SpikesCoveredBeforeOnset} of {o.Spikes}", o.CapacityHours.ToString("N1", CultureInfo.InvariantCulture), o.ColdStarts.ToString(CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
        if (result.Outcomes.FirstOrDefault(o => o.Policy == ScalingPolicy.Proactive) is { } proactive && result.Outcomes.FirstOrDefault(o => o.Policy == ScalingPolicy.Reactive) is { } reactive)
        {
            AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture, $"proactive against reactive: {(reactive.SloViolationMinutes > 0 ? $"{proactive.SloViolationMinutes / reactive.SloViolationMinutes:P0}" : "n/a")} of its SLO-violation minutes with {(proactive.CapacityHours / reactive.CapacityHours) - 1:+0%;-0%;0%} capacity-hours"));
        }

        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture, $"({seconds:F1} s)"));
        return ExitCodes.Ok;
    }

    internal static string Name(ScalingPolicy policy) => Policies.Single(p => p.Value == policy).Key;
}
