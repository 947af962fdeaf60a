using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Shadowing.Cli.Forecasting;
using Shadowing.Cli.Samples;
using Shadowing.Cli.Up;
using Shadowing.Control;
using Shadowing.Core.Configuration;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Core.Validation;
using Shadowing.Embedded.Provisioning;
using Shadowing.Forecasting.Pae;
using Shadowing.Router.Hosting;
using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Rendering;

namespace Shadowing.Cli.Demo;

/// <summary>
/// <c>shadowing demo</c>: the embedded stack of <c>up</c> on an accelerated clock, with history for the PAE, client load
/// from a trace, and production killed during the spike. Shows it live, then writes a report.
/// </summary>
internal sealed class DemoCommand : AsyncCommand<DemoCommand.Settings>
{
    private const string Service = "orders";
    private static readonly TimeSpan History = TimeSpan.FromDays(7);
    private static readonly TimeSpan SampleStartTimeout = TimeSpan.FromSeconds(30);

    public sealed class Settings : CommonSettings
    {
        [CommandOption("--speed <X>")]
        [Description("Simulated seconds per real second. Default 720: a simulated day in two minutes.")]
        public double Speed { get; init; } = 720;

        [CommandOption("--duration <D>")]
        [Description("Simulated time the load runs, 2h to 2d (e.g. 12h, 06:00:00). Default 1d.")]
        public string DurationText { get; init; } = "1d";

        /// <summary><see cref="DurationText"/> read (<see cref="Durations.TryParse"/>: a bare number is refused, not read as days).</summary>
        public TimeSpan Duration => Durations.TryParse(DurationText, out var duration) ? duration : TimeSpan.Zero;

        [CommandOption("--trace <FILE>")]
        [Description("timestamp,value CSV to play instead of the synthetic day: its last --duration is the load (scaled to this machine), what comes before is the PAE's history.")]
        public string? Trace { get; init; }

        [CommandOption("--report <DIR>")]
        [Description("Folder for the report (index.html and PNG plots). Default .shadowing/demo.")]
        public string Report { get; init; } = Path.Combine(".shadowing", "demo");

        [CommandOption("--json")]
        [Description("No live view: progress on standard error, one JSON summary on standard output.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            !double.IsFinite(Speed) || Speed < 1 || Speed > 5000 ? ValidationResult.Error($"--speed must be between 1 and 5000, was {Speed.ToString(CultureInfo.InvariantCulture)}")
            : !Durations.TryParse(DurationText, out _) ? ValidationResult.Error($"--duration: '{DurationText}' is not a duration such as 12h, 90m or 12:00:00")
            : Duration < TimeSpan.FromHours(2) || Duration > TimeSpan.FromDays(2) ? ValidationResult.Error($"--duration must be between 2h and 2d (longer would reach the past campaigns of the history), was {Durations.Describe(Duration)}")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var trace = settings.Trace is { } file
            ? DemoTrace.FromSeries(SeriesInput.Read(file, DuplicateTimestamps.Mean, "--trace").Series, settings.Duration, History, Path.GetFileName(file))
            : DemoTrace.Synthetic(settings.Duration, History, RandomSource.Seeded(27));
        var reportDir = Path.GetFullPath(settings.Report);
        try
        {
            // Now, not after the two minutes of the run: a --report naming a file or a folder that cannot be made lost the run.
            Directory.CreateDirectory(reportDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--report: '{settings.Report}' cannot be the report's folder: {ex.Message}");
        }

        var folder = Directory.CreateTempSubdirectory("shadowing-demo-").FullName;
        var progress = settings.Json || Console.IsOutputRedirected ? Console.Error : null;
        try
        {
            return await RunAsync(settings, trace, reportDir, folder, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            TryDelete(folder);
        }
    }

    private static async Task<int> RunAsync(Settings settings, DemoTrace trace, string reportDir, string folder, TextWriter? progress, CancellationToken cancellationToken)
    {
        void Say(string line)
        {
            if (progress is not null)
            {
                progress.WriteLine(line);
            }
            else
            {
                AnsiConsole.MarkupLine(Markup.Escape(line));
            }
        }

        Say($"Demo: {trace.Description}; {Durations.Describe(trace.End - trace.Start)} simulated at {settings.Speed.ToString(CultureInfo.InvariantCulture)}× real time.");
        var statePath = Path.Combine(folder, "state.db");
        var samples = new SampleServiceOptions
        {
            MaxLatencyMs = 500,
            Production = [new() { Id = "orders-1", Capacity = 16, LatencyMs = 20 }, new() { Id = "orders-2", Capacity = 16, LatencyMs = 20 }],
            Default = new() { Id = "orders-default", Capacity = 64, LatencyMs = 5 },
        };

        var processes = new List<SampleProcess>();
        SampleProcess? fallback = null;
        try
        {
            Say("Starting the sample service's production and default endpoints …");
            foreach (var endpoint in samples.Production)
            {
                processes.Add(await SampleProcess.StartAsync(Service, endpoint, EndpointRole.Production, SampleStartTimeout, cancellationToken).ConfigureAwait(false));
            }

            fallback = await SampleProcess.StartAsync(Service, samples.Default, EndpointRole.Default, SampleStartTimeout, cancellationToken).ConfigureAwait(false);
            var table = UpSamples.ToRoutingTable(Service, samples, id => id == samples.Default.Id ? fallback.Address : processes.Single(p => p.Options.Id == id).Address);

            Say($"Writing {Durations.Describe(History)} of demand history and the event calendar …");
            using (var seed = new Embedded.State.SqliteStateStore(statePath, TimeProvider.System))
            {
                await SeedAsync(seed, trace, cancellationToken).ConfigureAwait(false);
            }

            var clock = new AcceleratedClock(trace.Start, settings.Speed);
            var log = new DemoLog(clock);
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(log);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(Configuration(trace, statePath));
            builder.Services.AddSingleton<TimeProvider>(clock);
            builder.Services.AddUpHost(builder.Configuration, [table], "the demo");
            builder.Services.PostConfigure<LocalProvisionerOptions>(o =>
            {
                var template = UpSamples.ShadowTemplate(Service, samples);
                template.StartTimeout = clock.Simulated(SampleStartTimeout);
                o.Services[Service] = template;
            });

            builder.Services.PostConfigure<ControlOptions>(o => o.WorkflowStatusTimeout = clock.Simulated(ControlOptions.DefaultWorkflowStatusTimeout));

            // The synthetic history has no real latency to compare today's with: risk is scored on errors, which it has.
            builder.Services.PostConfigure<PaeOptions>(o => o.RiskMetrics = [Core.Metrics.MetricKind.Errors]);
            await using var app = builder.Build();
            app.MapShadowingRouter();
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            await using var admin = await UpAdmin.StartAsync(app.Services, "http://127.0.0.1:0", cancellationToken).ConfigureAwait(false);
            if (await app.WaitUntilRoutingAsync(TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false) is { } notRouting)
            {
                throw new StartFailedException(notRouting);
            }

            var router = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            Say($"Router {router.ToString().TrimEnd('/')}, admin API {UpAdmin.AddressOf(admin)}, dashboard {UpAdmin.AddressOf(admin)}/ui.");
            var store = app.Services.GetRequiredService<IStateStore>();
            var timeline = new DemoTimeline(store, app.Services.GetRequiredService<Core.Messaging.IEventBus>(), app.Services.GetRequiredService<RoutingTableStore>(), trace, Service);
            await using var load = new DemoLoad(router, clock, trace);
            var run = new Run(clock, trace, load, timeline, processes);
            var started = Stopwatch.GetTimestamp();
            load.Start();
            DateTimeOffset? stoppedAt = null;
            try
            {
                if (progress is not null)
                {
                    await run.PlayAsync(now => progress.WriteLine(run.ProgressLine(now)), TimeSpan.FromHours(1), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await AnsiConsole.Live(run.View(clock.GetUtcNow())).AutoClear(false).StartAsync(async live =>
                        await run.PlayAsync(now => live.UpdateTarget(run.View(now)), TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C while it plays: the report of the run so far rather than nothing (a second Ctrl+C still ends the
                // process at once). What follows runs to its end, uncancelled: a few store reads.
                stoppedAt = clock.GetUtcNow();
                Say($"Stopped at {stoppedAt:yyyy-MM-dd HH:mm} (simulated); writing the report of the run so far …");
                cancellationToken = CancellationToken.None;
            }

            await load.StopAsync().ConfigureAwait(false);
            var realSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            await timeline.SampleAsync(clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            var validator = app.Services.GetRequiredService<ShadowValidator>();
            var verdicts = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var shadow in timeline.Transitions.Select(t => t.Shadow).Distinct())
            {
                verdicts[shadow] = (await validator.LatestAsync(Service, shadow, cancellationToken).ConfigureAwait(false))?.Verdict.ToString() ?? "none";
            }

            var first = timeline.Requests.FirstOrDefault();
            var summary = new DemoSummary
            {
                Trace = trace.Description,
                Speed = settings.Speed,
                SimulatedFrom = trace.Start,
                SimulatedTo = trace.End,
                StoppedAt = stoppedAt,
                RealSeconds = Math.Round(realSeconds, 1),
                Requests = load.Sent,
                FailedRequests = load.Failed,
                FirstFailure = load.FirstFailure,
                SpikeOnset = trace.SpikeOnset,
                PreWarmedAt = timeline.FirstPreWarmed,
                FirstForecastAt = timeline.FirstForecastAt,
                ShadowLeadSeconds = trace.SpikeOnset is { } onset && timeline.FirstPreWarmed is { } ready ? (onset - ready).TotalSeconds : null,
                FailureAt = run.FailureAt,
                RecoveredAt = run.RecoveredAt,
                FailoverMs = run.FailoverMs,
                ShadowRequest = first is null ? null : DemoRequest.From(timeline.FirstSeen(first.Id) ?? first, first),
                Verdicts = verdicts,
                Warnings = log.Lines.Count,
                ReportDir = reportDir,
            };
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);

            DemoReport.Write(reportDir, summary, trace, load.Snapshot(), timeline);
            await File.WriteAllLinesAsync(Path.Combine(reportDir, "demo.log"), log.Lines, CancellationToken.None).ConfigureAwait(false);
            Print(summary, settings.Json);
            if (!summary.Succeeded)
            {
                await Console.Error.WriteLineAsync(summary.FailedRequests > 0
                    ? $"The demo failed {summary.FailedRequests} client request(s); the first: {summary.FirstFailure}. See {Path.Combine(reportDir, "demo.log")}."
                    : $"No shadow was PreWarmed before the spike at {summary.SpikeOnset:u}{summary.WhyLate()}. See {Path.Combine(reportDir, "demo.log")}.").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            return ExitCodes.Ok;
        }
        finally
        {
            await Task.WhenAll(processes.Append(fallback).OfType<SampleProcess>().Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The settings of the stack on the accelerated clock, in simulated time: intervals and timeouts that keep their
    /// real-time meaning at the default speed (a health probe every 0.8 s real, a PAE run every 0.4 s real), the
    /// trace's endpoint capacity, and a lead time the shadow's start and warm-up fit in.
    /// </summary>
    private static Dictionary<string, string?> Configuration(DemoTrace trace, string statePath) => new()
    {
        ["Shadowing:Embedded:StatePath"] = statePath,
        ["Router:PollInterval"] = "00:05:00",
        ["Router:ActiveHealthChecks:Interval"] = "00:10:00",
        ["Router:ActiveHealthChecks:Timeout"] = "00:09:00",
        ["Router:OutlierDetection:BaseEjectionTime"] = "00:10:00",
        ["Router:OutlierDetection:MaxEjectionTime"] = "01:00:00",
        ["Pae:History"] = History.ToString("c", CultureInfo.InvariantCulture),
        ["Pae:HolidayCountry"] = string.Empty,
        ["Pae:EndpointCapacity:" + Service] = trace.EndpointCapacity.ToString("R", CultureInfo.InvariantCulture),
        ["Pae:Planner:LeadTime"] = "01:30:00",
        ["Shadowing:Sep:WarmupTime"] = "00:30:00",
        ["Shadowing:Sep:WarmupSamples"] = "100",
        ["Shadowing:Sep:WarmupCheckInterval"] = "00:02:00",
        ["Shadowing:Sep:DrainTime"] = "00:05:00",
        ["Shadowing:Sep:MirrorPercent"] = "100",
        ["Shadowing:Sep:RevalidationInterval"] = "00:15:00",
        ["Shadowing:Sep:RevalidationWindow"] = "00:30:00",
        ["Shadowing:Embedded:Workflows:LeaseTimeout"] = "1.00:00:00",
    };

    /// <summary>The PAE's history as router records of a retired endpoint, and the event calendar.</summary>
    private static async Task SeedAsync(IStateStore store, DemoTrace trace, CancellationToken cancellationToken)
    {
        var buckets = new long[Core.Metrics.LatencyHistogram.BucketCount];
        foreach (var hour in trace.Steps(trace.Start - History, trace.Start).GroupBy(s => TimeGrid.Floor(s.Time, TimeSpan.FromHours(1))))
        {
            var minutes = hour.Select(s => new Core.Metrics.EndpointMinuteRecord
            {
                Service = Service,
                EndpointId = "history",
                Role = EndpointRole.Production,
                Minute = s.Time,
                Requests = (long)Math.Round(s.Requests),
                LatencyP50Ms = 20,
                LatencyP90Ms = 22,
                LatencyBuckets = buckets,
            }).ToArray();
            var document = new Core.Metrics.EndpointMetricsDay { Service = Service, EndpointId = "history", Day = DateOnly.FromDateTime(hour.Key.UtcDateTime), Hour = hour.Key.Hour, Minutes = minutes };
            await store.SaveJsonAsync(StateKeys.Metrics(Service, "history", hour.Key), document, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        await store.SaveJsonAsync(StateKeys.Events(Service), trace.Events, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static void Print(DemoSummary summary, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true }));
            return;
        }

        var grid = new Table().AddColumns("Summary", string.Empty).HideHeaders();
        foreach (var (name, value) in summary.Lines())
        {
            grid.AddRow(Markup.Escape(name), Markup.Escape(value));
        }

        AnsiConsole.Write(grid);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // a shadow process may still hold its files for a moment; the temporary folder is left behind
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The live window: samples the timeline, kills production during the spike and brings it back.</summary>
    private sealed class Run(AcceleratedClock clock, DemoTrace trace, DemoLoad load, DemoTimeline timeline, List<SampleProcess> production)
    {
        private readonly DateTimeOffset? _failAt = FailTime(trace);
        private readonly List<SampleEndpointOptions> _killed = [];
        public DateTimeOffset? FailureAt { get; private set; }

        public DateTimeOffset? RecoveredAt { get; private set; }

        public double? FailoverMs => load.FailoverMs is { } ms ? Math.Round(ms, 1) : null;

        /// <summary>Until the trace ends: samples about every simulated minute, reports every <paramref name="every"/>.</summary>
        public async Task PlayAsync(Action<DateTimeOffset> report, TimeSpan every, CancellationToken cancellationToken)
        {
            var nextReport = trace.Start;
            var recoverAt = _failAt + TimeSpan.FromMinutes(90);
            while (clock.GetUtcNow() is var now && now < trace.End)
            {
                await timeline.SampleAsync(now, cancellationToken).ConfigureAwait(false);
                if (_failAt is { } failAt && now >= failAt && FailureAt is null)
                {
                    FailureAt = now;
                    timeline.ProductionUp = false;
                    _killed.AddRange(production.Select(p => new SampleEndpointOptions { Id = p.Options.Id, Port = p.Address.Port, Capacity = p.Options.Capacity, LatencyMs = p.Options.LatencyMs }));

                    // A crash, not a shutdown: requests in flight on production are reset, as when a host dies.
                    load.MarkFailure();
                    await Task.WhenAll(production.Select(p => p.KillAsync())).ConfigureAwait(false);
                    await Task.WhenAll(production.Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
                    production.Clear();
                }

                if (FailureAt is not null && RecoveredAt is null && now >= recoverAt && recoverAt < trace.End)
                {
                    await RestartProductionAsync(cancellationToken).ConfigureAwait(false);
                    RecoveredAt = clock.GetUtcNow();
                    timeline.ProductionUp = true;
                }

                if (now >= nextReport)
                {
                    report(now);
                    nextReport += every;
                }

                await Task.Delay(clock.Real(TimeSpan.FromMinutes(1)), TimeProvider.System, cancellationToken).ConfigureAwait(false);
            }

            report(clock.GetUtcNow());
        }

        public string ProgressLine(DateTimeOffset now)
        {
            var shadows = timeline.Shadows.Count == 0 ? "no shadows" : string.Join(", ", timeline.Shadows.Select(s => $"{s.Id} {s.State}"));
            var forecast = timeline.Forecast?.Points.FirstOrDefault(p => p.Horizon == DemoTimeline.PlotHorizon);
            return string.Create(CultureInfo.InvariantCulture, $"{now:yyyy-MM-dd HH:mm} demand {trace.RatePerMinute(now):F1}/min, forecast 30 min ahead {(forecast is { } f ? (f.P50 / PerStep()).ToString("F1", CultureInfo.InvariantCulture) : "–")}/min; production {(timeline.ProductionUp ? "up" : "DOWN")}; {shadows}; requests {load.Sent:N0}, failed {load.Failed:N0}");
        }

        public IRenderable View(DateTimeOffset now)
        {
            var steps = load.Snapshot();
            var recent = steps.Count > 1 ? steps[^2] : steps.LastOrDefault();
            var forecast = timeline.Forecast?.Points.FirstOrDefault(p => p.Horizon == DemoTimeline.PlotHorizon);
            var top = new Table().AddColumns("simulated time", "demand /min", "forecast 30 min ahead (p50 / p90)", "production", "requests", "failed").Expand();
            top.AddRow(
                now.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                trace.RatePerMinute(now).ToString("F1", CultureInfo.InvariantCulture) + $" (capacity {trace.ProductionCapacity:F0})",
                forecast is { } f ? string.Create(CultureInfo.InvariantCulture, $"{f.P50 / PerStep():F1} / {f.P90 / PerStep():F1} at {f.Time:HH:mm}") : "–",
                timeline.ProductionUp ? "[green]up[/]" : "[red]killed[/]",
                load.Sent.ToString("N0", CultureInfo.InvariantCulture),
                load.Failed == 0 ? "0" : $"[red]{load.Failed:N0}[/]");
            var shadows = new Table().AddColumns("shadow", "phase", "since");
            foreach (var shadow in timeline.Shadows)
            {
                shadows.AddRow(Markup.Escape(shadow.Id), shadow.State.ToString(), shadow.StateChangedAt?.ToString("HH:mm", CultureInfo.InvariantCulture) ?? "–");
            }

            var split = recent is null || recent.Total == 0
                ? "–"
                : string.Create(CultureInfo.InvariantCulture, $"production {100.0 * recent.Production / recent.Total:F0} %, shadow {100.0 * recent.Shadow / recent.Total:F0} %, default {100.0 * recent.Default / recent.Total:F0} %, failed {recent.Failed}; p90 {recent.Percentile(0.9):F0} ms");
            var request = timeline.Requests.FirstOrDefault();
            var notes = new Rows(
                new Markup($"[bold]routing[/] {Markup.Escape(split)}"),
                new Markup($"[bold]spike onset[/] {trace.SpikeOnset?.ToString("HH:mm", CultureInfo.InvariantCulture) ?? "–"}   [bold]production killed[/] {(FailureAt?.ToString("HH:mm", CultureInfo.InvariantCulture) ?? _failAt?.ToString("'at' HH:mm", CultureInfo.InvariantCulture) ?? "–")}   [bold]failover[/] {(FailoverMs is { } ms ? ms.ToString("F0", CultureInfo.InvariantCulture) + " ms" : "–")}"),
                new Markup($"[bold]PAE[/] {Markup.Escape(request is null ? "no shadow requested yet" : $"{request.Count} shadow(s) for {request.WindowStart:HH:mm}–{request.WindowEnd:HH:mm} (first asked at {request.CreatedAt:HH:mm}, last changed {request.UpdatedAt:HH:mm})")}"));
            return new Rows(top, shadows.Title("shadows"), notes);
        }

        /// <summary>Minutes per forecast step: the document's values are per step, the view's per minute.</summary>
        private double PerStep() => timeline.Forecast?.Step.TotalMinutes ?? DemoTrace.Step.TotalMinutes;

        /// <summary>Half an hour into the spike; without one, at the live window's busiest step.</summary>
        private static DateTimeOffset? FailTime(DemoTrace trace) =>
            trace.SpikeOnset is { } onset
                ? onset + TimeSpan.FromMinutes(30)
                : trace.Steps(trace.Start, trace.End).MaxBy(s => s.Requests).Time;

        private async Task RestartProductionAsync(CancellationToken cancellationToken)
        {
            // On the ports they had: the routing table still names them there.
            foreach (var options in _killed)
            {
                production.Add(await SampleProcess.StartAsync(Service, options, EndpointRole.Production, SampleStartTimeout, cancellationToken).ConfigureAwait(false));
            }
        }
    }
}
