using System.ComponentModel;
using System.Globalization;
using Shadowing.Core.Configuration;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Validation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Validation;

/// <summary><c>shadowing validate</c>: the latest verdict on each shadow of a service, or a fresh one with <c>--judge</c>.</summary>
internal sealed class ValidateCommand : AsyncCommand<ValidateCommand.Settings>
{
    public sealed class Settings : StateSettings
    {
        [CommandOption("-s|--service <SERVICE>")]
        [Description("The service whose shadows to show.")]
        public string Service { get; init; } = string.Empty;

        [CommandOption("--judge")]
        [Description("Judge every shadow now over --window instead of showing the stored verdicts (stores a Pass or Fail; an Inconclusive one is shown, not stored).")]
        public bool Judge { get; init; }

        [CommandOption("--window <DURATION>")]
        [Description("With --judge: how far back outcomes count, e.g. 30m or 00:30:00. Default 15m.")]
        public string? WindowText { get; init; }

        /// <summary><see cref="WindowText"/> read (<see cref="Durations.TryParse"/>: a bare number is refused, not read as days).</summary>
        public TimeSpan Window => Durations.TryParse(WindowText ?? "15m", out var window) ? window : TimeSpan.Zero;

        [CommandOption("--json")]
        [Description("Print the verdicts as JSON.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Service) ? ValidationResult.Error("--service is required")
            : !ServiceNames.IsValid(Service) ? ValidationResult.Error($"--service: '{Service}' is not a service name: {ServiceNames.Rule}")
            : WindowText is not null && !Judge ? ValidationResult.Error("--window applies only with --judge (without it the stored verdicts are shown, each over its own window)")
            : WindowText is not null && !Durations.TryParse(WindowText, out _) ? ValidationResult.Error($"--window: '{WindowText}' is not a duration such as 30m, 2h or 00:30:00")
            : Window <= TimeSpan.Zero ? ValidationResult.Error("--window must be positive")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var state = settings.Open();
        try
        {
            var table = (await new RoutingTableStore(state.AsStore(), state.AsBus()).GetAsync(settings.Service, cancellationToken))?.Value
                ?? throw new UsageException($"--service: no routing table for service '{settings.Service}' in {settings.State}.");
            var validator = new ShadowValidator(state.AsStore(), state.AsBus(), TimeProvider.System);
            var verdicts = new List<(string Shadow, ShadowVerdict? Verdict)>();
            foreach (var shadow in table.Shadows)
            {
                ShadowVerdict? verdict;
                if (settings.Judge)
                {
                    // As continuous validation judges it: a ready shadow only since it became ready (a restart before that ran another process).
                    var to = TimeProvider.System.GetUtcNow();
                    verdict = await validator.JudgeAsync(table.Service, shadow.Id, ShadowRevalidation.WindowStart(shadow, to, settings.Window), to, cancellationToken: cancellationToken);

                    // Too few copies says nothing of the shadow: as continuous validation, an Inconclusive judgement leaves the
                    // stored verdict (a fresh Pass that allows a promotion) standing.
                    await validator.RecordAsync(verdict, storeInconclusive: false, cancellationToken: cancellationToken);
                }
                else
                {
                    verdict = await validator.LatestAsync(table.Service, shadow.Id, cancellationToken);
                }

                verdicts.Add((shadow.Id, verdict));
            }

            if (settings.Json)
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(verdicts.Select(v => new { shadow = v.Shadow, verdict = v.Verdict, stored = v.Verdict is not null && (!settings.Judge || v.Verdict.Verdict != Verdict.Inconclusive) }).ToArray(), ShadowingJson.Options));
                return ExitCodes.Ok;
            }

            if (verdicts.Count == 0)
            {
                AnsiConsole.MarkupLineInterpolated($"Service {table.Service} has no shadows.");
            }

            foreach (var (shadow, verdict) in verdicts)
            {
                if (verdict is null)
                {
                    AnsiConsole.MarkupLineInterpolated($"{shadow}: never validated");
                    continue;
                }

                var kept = settings.Judge && verdict.Verdict == Verdict.Inconclusive ? "; not stored: the stored verdict stands" : string.Empty;
                AnsiConsole.MarkupLineInterpolated($"{shadow}: {verdict.Verdict} (judged {verdict.JudgedAt.ToString("u", CultureInfo.InvariantCulture)}, outcomes from {verdict.From.ToString("u", CultureInfo.InvariantCulture)}{kept})");
                foreach (var reason in verdict.Reasons)
                {
                    AnsiConsole.MarkupLineInterpolated($"  {reason}");
                }
            }

            return ExitCodes.Ok;
        }
        finally
        {
            await state.CloseAsync();
        }
    }
}
