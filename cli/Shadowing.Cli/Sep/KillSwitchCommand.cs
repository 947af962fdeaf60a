using System.ComponentModel;
using System.Globalization;
using Shadowing.Cli.Validation;
using Shadowing.Core.State;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Sep;

/// <summary>
/// <c>shadowing kill-switch on|off</c>: while on, SEP admits no shadow request and the running host releases every
/// lifecycle workflow at its next revalidation tick, so their shadows drain and retire.
/// </summary>
internal sealed class KillSwitchCommand : AsyncCommand<KillSwitchCommand.Settings>
{
    public sealed class Settings : StateSettings
    {
        [CommandArgument(0, "<on|off>")]
        [Description("on: stop new shadows and retire running ones; off: allow shadows again.")]
        public string Switch { get; init; } = string.Empty;

        [CommandOption("--by <NAME>")]
        [Description("Who engages it, recorded with it (an engaged switch keeps who engaged it). Default: the user name.")]
        public string By { get; init; } = Environment.UserName;

        public override ValidationResult Validate() =>
            Switch is "on" or "off" ? ValidationResult.Success() : ValidationResult.Error($"<on|off>: '{Switch}' is neither on nor off");
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var state = settings.Open();
        try
        {
            if (settings.Switch == "on")
            {
                // Engaged once: a second "on" (another operator, or the same one again without --by) keeps who engaged it and when.
                if (!await state.AsStore().TryCreateJsonAsync(StateKeys.KillSwitch, new { by = settings.By, at = TimeProvider.System.GetUtcNow() }, cancellationToken))
                {
                    var engaged = (await state.AsStore().GetJsonAsync<System.Text.Json.JsonElement>(StateKeys.KillSwitch, cancellationToken))?.Value;
                    var who = engaged is { ValueKind: System.Text.Json.JsonValueKind.Object } e && e.TryGetProperty("by", out var by) ? by.ToString() : "someone";
                    var when = engaged is { ValueKind: System.Text.Json.JsonValueKind.Object } f && f.TryGetProperty("at", out var at) && at.TryGetDateTimeOffset(out var time)
                        ? time.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)
                        : "earlier";
                    AnsiConsole.MarkupLineInterpolated($"Kill switch already engaged by {who} at {when}: left as it is.");
                    return ExitCodes.Ok;
                }

                await new Core.Diagnostics.AuditLog(state.AsStore(), TimeProvider.System).RecordAsync($"{settings.By} (cli)", "kill-switch", "*", "on", cancellationToken);
                AnsiConsole.MarkupLineInterpolated($"Kill switch engaged by {settings.By}: no shadow starts; a running host releases its shadows at its next revalidation tick (Shadowing:Sep:RevalidationInterval).");
            }
            else
            {
                await state.AsStore().DeleteAsync(StateKeys.KillSwitch, etag: null, cancellationToken);
                await new Core.Diagnostics.AuditLog(state.AsStore(), TimeProvider.System).RecordAsync($"{settings.By} (cli)", "kill-switch", "*", "off", cancellationToken);
                AnsiConsole.MarkupLine($"Kill switch off: shadow requests are admitted again (within the guard rails), unless a host's configuration engages it ({Core.Shadows.ShadowGuardRails.Section}:KillSwitch, which this command cannot change).");
            }

            return ExitCodes.Ok;
        }
        finally
        {
            await state.CloseAsync();
        }
    }
}
