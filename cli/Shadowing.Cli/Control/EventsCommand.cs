using System.ComponentModel;
using System.Globalization;
using Shadowing.Cli.Validation;
using Shadowing.Control;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.Forecasting.Calendar;
using Spectre.Console;
using CalendarEvent = Shadowing.Forecasting.Calendar.CalendarEvent;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Control;

/// <summary>
/// <c>shadowing events add|list|remove SERVICE</c>: the campaign and news calendar the PAE reads for a service
/// (<c>events/{service}</c> in the store; <c>PUT /api/services/{service}/events</c> does the same through the API).
/// </summary>
internal sealed class EventsCommand : AsyncCommand<EventsCommand.Settings>
{
    public sealed class Settings : StateSettings
    {
        [CommandArgument(0, "<add|list|remove>")]
        [Description("add an event, list them, or remove the ones with --name.")]
        public string Action { get; init; } = string.Empty;

        [CommandArgument(1, "<SERVICE>")]
        [Description("The service.")]
        public string Service { get; init; } = string.Empty;

        [CommandOption("--start <TIME>")]
        [Description("add: when it starts, ISO 8601 (2026-12-24T18:00:00Z).")]
        public string? Start { get; init; }

        [CommandOption("--end <TIME>")]
        [Description("add: when it ends (exclusive).")]
        public string? End { get; init; }

        [CommandOption("--name <NAME>")]
        [Description("add: what it is; remove: which events to remove.")]
        public string? Name { get; init; }

        [CommandOption("--kind <KIND>")]
        [Description("add: campaign, launch, news, … Default: campaign.")]
        public string Kind { get; init; } = "campaign";

        [CommandOption("--multiplier <X>")]
        [Description("add: expected demand relative to normal (2 = double), when someone knows.")]
        public double? Multiplier { get; init; }

        [CommandOption("--json")]
        [Description("list: print the events as JSON.")]
        public bool Json { get; init; }

        public override ValidationResult Validate()
        {
            if (Action is not ("add" or "list" or "remove"))
            {
                return ValidationResult.Error($"<add|list|remove>: '{Action}' is none of add, list, remove");
            }

            if (!ServiceNames.IsValid(Service))
            {
                return ValidationResult.Error($"<SERVICE>: '{Service}' is not a service name: {ServiceNames.Rule}");
            }

            if (Action == "add")
            {
                if (Start is null || End is null || Name is null)
                {
                    return ValidationResult.Error($"add needs --start, --end and --name (missing: {string.Join(", ", new[] { ("--start", Start), ("--end", End), ("--name", Name) }.Where(o => o.Item2 is null).Select(o => o.Item1))})");
                }

                if (!TryTime(Start, out _))
                {
                    return ValidationResult.Error($"--start: '{Start}' is not a timestamp such as 2026-12-24T18:00:00Z");
                }

                if (!TryTime(End, out _))
                {
                    return ValidationResult.Error($"--end: '{End}' is not a timestamp such as 2026-12-24T22:00:00Z");
                }

                if (CalendarEventJson.Check(ToEvent()) is { } problem)
                {
                    return ValidationResult.Error($"--{(problem.Field == "expectedMultiplier" ? "multiplier" : problem.Field)}: {problem.Message}");
                }
            }

            if (Action == "remove" && Name is null)
            {
                return ValidationResult.Error("remove needs --name: the events with that name are removed");
            }

            return ValidationResult.Success();
        }

        public CalendarEvent ToEvent()
        {
            TryTime(Start!, out var start);
            TryTime(End!, out var end);
            return new CalendarEvent(start, end, Name!, Kind, Multiplier);
        }

        private static bool TryTime(string text, out DateTimeOffset time) =>
            DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var state = settings.Open();
        try
        {
            var store = state.AsStore();
            var key = StateKeys.Events(settings.Service);
            if (settings.Action == "list")
            {
                var events = (await store.GetJsonAsync<List<CalendarEvent>>(key, cancellationToken))?.Value ?? [];
                if (settings.Json)
                {
                    Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(events, ShadowingJson.Options));
                }
                else if (events.Count == 0)
                {
                    AnsiConsole.MarkupLineInterpolated($"No events for {settings.Service}.");
                }
                else
                {
                    var table = new Table().AddColumns("Start (UTC)", "End (UTC)", "Name", "Kind", "Multiplier");
                    foreach (var e in events)
                    {
                        table.AddRow(
                            e.Start.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                            e.End.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                            Markup.Escape(e.Name),
                            Markup.Escape(e.Kind),
                            e.ExpectedMultiplier?.ToString("0.##", CultureInfo.InvariantCulture) ?? "-");
                    }

                    AnsiConsole.Write(table);
                }

                return ExitCodes.Ok;
            }

            if (settings.Action != "add" && (await store.GetJsonAsync<List<CalendarEvent>>(key, cancellationToken))?.Value.Exists(e => string.Equals(e.Name, settings.Name, StringComparison.Ordinal)) != true)
            {
                // Nothing to remove: no write, which would create an empty calendar or move the ETag another editor holds.
                throw new UsageException($"--name: {settings.Service} has no event named '{settings.Name}' (shadowing events list {settings.Service} shows them).");
            }

            var tables = new RoutingTableStore(store, state.AsBus());
            if (settings.Action == "add" && await tables.FindCaseTwinAsync(settings.Service, cancellationToken) is { } twin)
            {
                // The PAE reads the calendar under the table's own spelling; the router matches services ignoring case.
                throw new UsageException($"<SERVICE>: '{settings.Service}' differs only in case from the stored service '{twin}', whose calendar the PAE reads.");
            }

            var changed = 0;
            await store.UpdateJsonAsync<List<CalendarEvent>>(
                key,
                current =>
                {
                    var events = new List<CalendarEvent>(current ?? []);
                    if (settings.Action == "add")
                    {
                        events.Add(settings.ToEvent());
                        changed = 1;
                    }
                    else
                    {
                        changed = events.RemoveAll(e => string.Equals(e.Name, settings.Name, StringComparison.Ordinal));
                    }

                    events.Sort((a, b) => a.Start.CompareTo(b.Start));
                    return events;
                },
                cancellationToken: cancellationToken);
            if (changed > 0)
            {
                await new Core.Diagnostics.AuditLog(store, TimeProvider.System).RecordAsync($"{Environment.UserName} (cli)", settings.Action == "add" ? "add-event" : "remove-events", settings.Service, $"{settings.Name} ({changed})", cancellationToken);
            }

            if (settings.Action == "add")
            {
                AnsiConsole.MarkupLineInterpolated($"Added '{settings.Name}' to the calendar of {settings.Service}; the PAE reads it at its next run.");
                var known = await tables.ListServicesAsync(cancellationToken);
                if (!known.Contains(settings.Service, StringComparer.Ordinal))
                {
                    // Not refused: a calendar may be written before its service is onboarded; but a misspelt service
                    // would be stored and audited silently, and the PAE forecasts only services with a routing table.
                    AnsiConsole.MarkupLineInterpolated($"[yellow]Note:[/] no routing table names {settings.Service}{(known.Count > 0 ? $" (stored: {string.Join(", ", known)})" : "")}; the PAE forecasts a service only once it has one (shadowing routes apply FILE).");
                }
            }
            else if (changed == 0)
            {
                throw new UsageException($"--name: {settings.Service} has no event named '{settings.Name}' (shadowing events list {settings.Service} shows them).");
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"Removed {changed} event(s) named '{settings.Name}' from the calendar of {settings.Service}.");
            }

            return ExitCodes.Ok;
        }
        finally
        {
            await state.CloseAsync();
        }
    }
}
