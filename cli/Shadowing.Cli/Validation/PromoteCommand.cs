using System.ComponentModel;
using Shadowing.Core.Routing;
using Shadowing.Core.Validation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Validation;

/// <summary><c>shadowing promote SERVICE SHADOW</c>: makes a validated shadow Active, or a production endpoint.</summary>
internal sealed class PromoteCommand : AsyncCommand<PromoteCommand.Settings>
{
    public sealed class Settings : StateSettings
    {
        [CommandArgument(0, "<SERVICE>")]
        [Description("The service.")]
        public string Service { get; init; } = string.Empty;

        [CommandArgument(1, "<SHADOW>")]
        [Description("The shadow's id in the routing table.")]
        public string Shadow { get; init; } = string.Empty;

        [CommandOption("--to <TARGET>")]
        [Description("active (the shadow takes traffic when production cannot; default) or production (it becomes a production endpoint).")]
        public string Target { get; init; } = "active";

        /// <summary>The target named: read here rather than by the option's enum converter, which takes "2" and "active,production" too.</summary>
        public PromotionTarget To => Target.Equals("production", StringComparison.OrdinalIgnoreCase) ? PromotionTarget.Production : PromotionTarget.Active;

        public override ValidationResult Validate() =>
            !ServiceNames.IsValid(Service) ? ValidationResult.Error($"<SERVICE>: '{Service}' is not a service name: {ServiceNames.Rule}")
            : Target.Equals("active", StringComparison.OrdinalIgnoreCase) || Target.Equals("production", StringComparison.OrdinalIgnoreCase)
                ? ValidationResult.Success()
                : ValidationResult.Error($"--to: '{Target}' is neither active nor production");
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var state = settings.Open();
        try
        {
            // A misspelt name is the invocation's mistake (2), not a promotion the verdicts refused (1).
            var current = (await new RoutingTableStore(state.AsStore(), state.AsBus()).GetAsync(settings.Service, cancellationToken))?.Value
                ?? throw new UsageException($"<SERVICE>: no routing table for service '{settings.Service}' in {settings.State}.");
            var target = settings.To.ToString().ToLowerInvariant();
            if (ShadowPromotion.IsPromoted(current, settings.Shadow, settings.To))
            {
                AnsiConsole.MarkupLineInterpolated($"{settings.Shadow} of {current.Service} is already {(settings.To == PromotionTarget.Active ? "Active" : "a production endpoint")}: nothing changed.");
                return ExitCodes.Ok;
            }

            if (current.Shadows.All(s => s.Id != settings.Shadow))
            {
                throw new UsageException($"<SHADOW>: service '{current.Service}' has no shadow '{settings.Shadow}' (it has {(current.Shadows.Count == 0 ? "none" : string.Join(", ", current.Shadows.Select(s => s.Id)))}).");
            }

            var table = await new ShadowPromotion(state.AsStore(), state.AsBus(), TimeProvider.System).PromoteAsync(settings.Service, settings.Shadow, settings.To, cancellationToken);
            await new Core.Diagnostics.AuditLog(state.AsStore(), TimeProvider.System).RecordAsync($"{Environment.UserName} (cli)", "promote", $"{table.Service}/{settings.Shadow}", $"to {target}", cancellationToken);
            AnsiConsole.MarkupLineInterpolated($"{settings.Shadow} of {table.Service} promoted to {target}.");
            return ExitCodes.Ok;
        }
        finally
        {
            await state.CloseAsync();
        }
    }
}
