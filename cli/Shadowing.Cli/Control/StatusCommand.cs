using System.ComponentModel;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Shadowing.Cli.Up;
using Shadowing.Control;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Control;

/// <summary>
/// <c>shadowing status [SERVICE|INSTANCE]</c>: the control API's view as tables: every service, one service (routing,
/// shadows with their phases and verdicts, requests with their workflows, the latest forecast), or one workflow instance.
/// </summary>
internal sealed class StatusCommand : AsyncCommand<StatusCommand.Settings>
{
    public sealed class Settings : ControlApiSettings
    {
        [CommandArgument(0, "[TARGET]")]
        [Description("A service name, or a workflow instance id. Default: every service.")]
        public string? Target { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var http = settings.CreateClient();

        var target = settings.Target;
        if (target is null)
        {
            var tables = await ControlApiSettings.GetOkAsync(http, "api/routing", settings.Url, cancellationToken);
            return Print(settings, tables, () => PrintServices(tables));
        }

        var service = await ControlApiSettings.GetAsync(http, $"api/services/{Uri.EscapeDataString(target)}", settings.Url, cancellationToken);
        if (service.Status == HttpStatusCode.OK)
        {
            return Print(settings, service.Body, () => PrintService(service.Body));
        }

        var instance = ControlApi.IsValidId(target) ? await ControlApiSettings.GetAsync(http, $"api/workflows/{Uri.EscapeDataString(target)}", settings.Url, cancellationToken) : service;
        if (instance.Status == HttpStatusCode.OK)
        {
            return Print(settings, instance.Body, () => PrintInstance(instance.Body));
        }

        throw new UsageException($"'{target}' is neither a service nor a workflow instance the control API at {settings.Url} knows.");
    }

    private static int Print(Settings settings, JsonElement body, Action tables)
    {
        if (settings.Json)
        {
            Console.Out.WriteLine(body.GetRawText());
        }
        else
        {
            try
            {
                tables();
            }
            catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException)
            {
                // A 200 of another shape: another server at --url, or an API newer than this tool.
                throw new StartFailedException($"The control API at {settings.Url} answered in a shape this shadowing does not read ({ex.Message}); --json prints the answer as it came.", ex);
            }
        }

        return ExitCodes.Ok;
    }

    private static void PrintServices(JsonElement tables)
    {
        if (tables.GetArrayLength() == 0)
        {
            AnsiConsole.MarkupLine("No routing tables stored yet.");
            return;
        }

        var table = new Table().AddColumns("Service", "Production", "Shadows (phase)", "Default", "Mirror");
        foreach (var t in tables.EnumerateArray())
        {
            table.AddRow(
                Markup.Escape(Text(t, "service")),
                Count(t, "production"),
                Markup.Escape(string.Join(", ", Items(t, "shadows").Select(s => $"{Text(s, "id")} ({Text(s, "state", "WarmingUp")})")) is { Length: > 0 } list ? list : "-"),
                Markup.Escape(t.TryGetProperty("default", out var d) ? Text(d, "id") : "-"),
                t.TryGetProperty("mirror", out var m) && m.TryGetProperty("enabled", out var on) && on.ValueKind == JsonValueKind.True ? "on" : "off");
        }

        AnsiConsole.Write(table);
    }

    private static void PrintService(JsonElement status)
    {
        AnsiConsole.MarkupLineInterpolated($"[bold]{Text(status, "service")}[/]");
        if (status.TryGetProperty("routingTable", out var routing))
        {
            AnsiConsole.MarkupLineInterpolated($"production: {string.Join(", ", Items(routing, "production").Select(p => Text(p, "id")))}; default: {(routing.TryGetProperty("default", out var d) ? Text(d, "id") : "-")}");
        }

        // Ids and phases never wrap (people and scripts grep them); the long fields follow on lines of their own, so an
        // 80-column terminal or a pipe shows every table whole.
        var shadows = new Table().Title("Shadows")
            .AddColumn(new TableColumn("Shadow").NoWrap()).AddColumn(new TableColumn("Phase").NoWrap())
            .AddColumn(new TableColumn("Since (UTC)").NoWrap()).AddColumn(new TableColumn("Verdict").NoWrap());
        var details = new List<string>();
        foreach (var s in Items(status, "shadows"))
        {
            shadows.AddRow(Markup.Escape(Text(s, "id")), Markup.Escape(Text(s, "phase")), Markup.Escape(Time(s, "phaseSince")), Markup.Escape(Text(s, "verdict", "-")));
            details.Add($"{Text(s, "id")}: {Text(s, "address")}, workflow {Text(s, "owner", "-")}");
        }

        if (shadows.Rows.Count == 0)
        {
            AnsiConsole.MarkupLine("No shadows.");
        }
        else
        {
            AnsiConsole.Write(shadows);
        }

        var requests = new Table().Title("Open shadow requests")
            .AddColumn(new TableColumn("Request").NoWrap()).AddColumn(new TableColumn("#").NoWrap()).AddColumn(new TableColumn("Window (UTC)").NoWrap())
            .AddColumn(new TableColumn("Decision").NoWrap()).AddColumn(new TableColumn("Status").NoWrap());
        foreach (var r in Items(status, "requests"))
        {
            var request = r.GetProperty("request");
            var plan = r.TryGetProperty("plan", out var p) ? p : default;
            var workflow = r.TryGetProperty("workflow", out var w) ? w : default;
            requests.AddRow(
                Markup.Escape(Text(request, "id")),
                Markup.Escape(Text(request, "count")),
                Markup.Escape(Window(request)),
                Markup.Escape(plan.ValueKind == JsonValueKind.Object ? Text(plan, "decision") : "pending"),
                Markup.Escape(workflow.ValueKind == JsonValueKind.Object ? $"{Text(workflow, "runtimeStatus")} {Text(workflow, "phase")}".Trim() : "-"));
            if (workflow.ValueKind == JsonValueKind.Object)
            {
                details.Add(WorkflowLine(request, workflow));
            }
        }

        if (requests.Rows.Count > 0)
        {
            AnsiConsole.Write(requests);
        }

        foreach (var line in details)
        {
            Console.Out.WriteLine(line);
        }

        if (status.TryGetProperty("forecast", out var forecast))
        {
            var risk = forecast.TryGetProperty("riskScore", out var score) && score.ValueKind == JsonValueKind.Number ? score.GetDouble().ToString("0.00", CultureInfo.InvariantCulture) : "-";
            AnsiConsole.MarkupLineInterpolated($"Forecast: {Text(forecast, "method")} at {Time(forecast, "generatedAt")}; risk {risk}; shadows needed from {Time(forecast, "shadowsNeededFrom")}");
        }

        if (PaeLine(status) is { } pae)
        {
            Console.Out.WriteLine(pae);
        }
    }

    /// <summary>What the PAE's last run did for the service and why (<c>pae/{service}</c>), or null before its first run.</summary>
    internal static string? PaeLine(JsonElement status) =>
        status.TryGetProperty("pae", out var pae) && pae.ValueKind == JsonValueKind.Object
            ? $"PAE, last run {Time(pae, "runAt")}: {(Text(pae, "problem") is { Length: > 0 } problem ? problem : Text(pae, "decision", "-"))}"
            : null;

    private static void PrintInstance(JsonElement status)
    {
        var table = new Table().AddColumns("Field", "Value");
        foreach (var field in new[] { "instanceID", "workflowName", "runtimeStatus", "createdAt", "lastUpdatedAt" })
        {
            table.AddRow(field, Markup.Escape(Text(status, field)));
        }

        if (status.TryGetProperty("properties", out var properties))
        {
            foreach (var property in properties.EnumerateObject())
            {
                table.AddRow(Markup.Escape(property.Name), Markup.Escape(property.Value.GetString() ?? string.Empty));
            }
        }

        AnsiConsole.Write(table);
    }

    private static IEnumerable<JsonElement> Items(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Object && value.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array ? array.EnumerateArray() : [];

    private static string Count(JsonElement value, string name) => Items(value, name).Count().ToString(CultureInfo.InvariantCulture);

    /// <summary>A request's workflow under the table, with why its state is unknown when it is (the workflows app down, hung).</summary>
    internal static string WorkflowLine(JsonElement request, JsonElement workflow) =>
        $"{Text(request, "id")}: workflow {Text(workflow, "instanceId")}"
        + (workflow.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String ? $" ({error.GetString()})" : string.Empty);

    private static string Text(JsonElement value, string name, string missing = "") =>
        value.ValueKind == JsonValueKind.Object && value.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()
            : missing;

    /// <summary>A request's window, the end without its date when on the same day.</summary>
    private static string Window(JsonElement request)
    {
        var (start, end) = (Time(request, "windowStart"), Time(request, "windowEnd"));
        return start.Length > 6 && end.Length > 6 && start[..5] == end[..5] ? $"{start[..11]}–{end[6..11]}" : $"{start} – {end}";
    }

    private static string Time(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Object && value.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.TryGetDateTimeOffset(out var t)
            ? t.UtcDateTime.ToString("MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : "-";
}
