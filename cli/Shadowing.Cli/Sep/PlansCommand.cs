using System.ComponentModel;
using System.Globalization;
using Shadowing.Cli.Validation;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Sep;

/// <summary><c>shadowing plans</c>: what SEP decided on each shadow request (admitted, dry run, refused and why), and the kill switch.</summary>
internal sealed class PlansCommand : AsyncCommand<PlansCommand.Settings>
{
    public sealed class Settings : StateSettings
    {
        [CommandOption("-s|--service <SERVICE>")]
        [Description("Only this service's requests.")]
        public string? Service { get; init; }

        [CommandOption("--json")]
        [Description("Print the plans as JSON.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            Service is not null && !ServiceNames.IsValid(Service) ? ValidationResult.Error($"--service: '{Service}' is not a service name: {ServiceNames.Rule}")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var state = settings.Open();
        try
        {
            var store = state.AsStore();
            var plans = new List<ShadowPlan>();
            foreach (var key in await store.ListKeysAsync(StateKeys.SepPlansPrefix, cancellationToken))
            {
                if ((await store.GetJsonAsync<ShadowPlan>(key, cancellationToken))?.Value is { } plan && (settings.Service is null || string.Equals(plan.Service, settings.Service, StringComparison.OrdinalIgnoreCase)))
                {
                    plans.Add(plan);
                }
            }

            var killSwitch = await store.GetAsync(StateKeys.KillSwitch, cancellationToken) is not null;
            if (settings.Json)
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { killSwitch, plans }, ShadowingJson.Options));
                return ExitCodes.Ok;
            }

            if (killSwitch)
            {
                AnsiConsole.MarkupLine("[red]Kill switch engaged[/]: no shadow starts, running ones are released (shadowing kill-switch off to disengage).");
            }
            else
            {
                AnsiConsole.MarkupLine($"Kill switch off in the state store (a host's {Core.Shadows.ShadowGuardRails.Section}:KillSwitch setting is not seen here).");
            }

            if (plans.Count == 0)
            {
                AnsiConsole.MarkupLine(settings.Service is null ? "No shadow requests yet." : $"No shadow requests for service '{Markup.Escape(settings.Service)}' yet.");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("Request", "Shadows", "Window (UTC)", "Decision", "Endpoint-hours", "Workflow");
            foreach (var plan in plans.OrderBy(p => p.WindowStart))
            {
                // What runs: an operator's count and end, set by hand on the workflow, over what was admitted.
                var end = plan.ManualEnd ?? plan.WindowEnd;
                table.AddRow(
                    Markup.Escape(plan.RequestId),
                    (plan.ManualCount ?? plan.Count).ToString(CultureInfo.InvariantCulture) + (plan.ManualCount is null ? string.Empty : " (by hand)"),
                    Markup.Escape((end.UtcDateTime.Date == plan.WindowStart.UtcDateTime.Date
                        ? $"{plan.WindowStart.UtcDateTime:yyyy-MM-dd HH:mm} – {end.UtcDateTime:HH:mm}"
                        : $"{plan.WindowStart.UtcDateTime:yyyy-MM-dd HH:mm} – {end.UtcDateTime:yyyy-MM-dd HH:mm}") + (plan.ManualEnd is null ? string.Empty : " (by hand)")),
                    plan.Decision.ToString(),
                    plan.EndpointHours.ToString("0.##", CultureInfo.InvariantCulture),
                    Markup.Escape(plan.InstanceId ?? "-"));
            }

            AnsiConsole.Write(table);

            // Reasons are sentences with numbers: on lines of their own, so a narrow terminal wraps them whole.
            foreach (var plan in plans.OrderBy(p => p.WindowStart))
            {
                Console.Out.WriteLine($"{plan.RequestId}: {plan.Reason}");
            }
            return ExitCodes.Ok;
        }
        finally
        {
            await state.CloseAsync();
        }
    }
}
