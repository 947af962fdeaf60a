using System.ComponentModel;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Shadowing.Cli.Control;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Forecasting;

/// <summary>
/// <c>shadowing forecast-report [SERVICE]</c>: how the PAE's forecasts have done against the actuals, per service and
/// reported horizon: what was forecast and each candidate (model, baselines, combination) with recent WAPE, bias,
/// bias at peaks and p90 coverage, from the latest forecast document in the control API.
/// </summary>
internal sealed class ForecastReportCommand : AsyncCommand<ForecastReportCommand.Settings>
{
    public sealed class Settings : ControlApiSettings
    {
        [CommandArgument(0, "[SERVICE]")]
        [Description("A service. Default: every service with a routing table.")]
        public string? Service { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var http = settings.CreateClient();
        var services = new List<string>();
        if (settings.Service is { } one)
        {
            services.Add(one);
        }
        else
        {
            var tables = await ControlApiSettings.GetOkAsync(http, "api/routing", settings.Url, cancellationToken);
            services.AddRange(tables.ValueKind == JsonValueKind.Array
                ? tables.EnumerateArray().Select(t => t.TryGetProperty("service", out var s) ? s.GetString() : null).OfType<string>()
                : []);
        }

        var reports = new List<(string Service, JsonElement? Forecast)>();
        foreach (var service in services)
        {
            var status = await ControlApiSettings.GetAsync(http, $"api/services/{Uri.EscapeDataString(service)}", settings.Url, cancellationToken);
            if (status.Status == HttpStatusCode.NotFound && settings.Service is not null)
            {
                throw new UsageException($"The control API at {settings.Url} knows no service '{service}'.");
            }

            if (status.Status == HttpStatusCode.BadRequest)
            {
                throw ControlApiSettings.Refused(status.Status, status.Body, $"api/services/{service}", settings.Url); // names the bad value
            }

            reports.Add((service, status.Status == HttpStatusCode.OK && status.Body.TryGetProperty("forecast", out var f) && f.ValueKind == JsonValueKind.Object ? f : null));
        }

        if (settings.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(reports.Select(r => new
            {
                service = r.Service,
                generatedAt = r.Forecast is { } f && f.TryGetProperty("generatedAt", out var g) ? g.GetString() : null,
                selection = r.Forecast is { } s && s.TryGetProperty("selection", out var sel) ? sel.GetString() : null,
                accountability = r.Forecast is { } a && a.TryGetProperty("accountability", out var acc) && acc.ValueKind == JsonValueKind.Array ? acc : (JsonElement?)null,
            })));
            return ExitCodes.Ok;
        }

        if (reports.Count == 0)
        {
            AnsiConsole.MarkupLine("No routing tables stored yet.");
        }

        foreach (var (service, forecast) in reports)
        {
            Print(service, forecast);
        }

        return ExitCodes.Ok;
    }

    private static void Print(string service, JsonElement? forecast)
    {
        if (forecast is not { } f)
        {
            AnsiConsole.MarkupLineInterpolated($"[bold]{service}[/]: no forecast yet (see shadowing status {service} for what the PAE last did).");
            return;
        }

        var rows = f.TryGetProperty("accountability", out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().ToArray() : [];
        AnsiConsole.MarkupLineInterpolated($"[bold]{service}[/]: forecast at {(f.TryGetProperty("generatedAt", out var g) ? g.GetString() : "?")}");
        if (rows.Length == 0)
        {
            AnsiConsole.MarkupLine("  nothing scored yet: the first forecasts are scored once their targets' actuals arrive.");
            return;
        }

        var table = new Table().AddColumns("Horizon", "Candidate", "Scored", "WAPE", "Bias", "Peak bias", "p90 coverage");
        foreach (var row in rows)
        {
            table.AddRow(Field(row, "horizon"), Field(row, "candidate"), Field(row, "scored"), Field(row, "wape"), Field(row, "bias"), Field(row, "peakBias"), Field(row, "coverageP90"));
        }

        AnsiConsole.Write(table);
        if (f.TryGetProperty("selection", out var selection) && selection.GetString() is { } text)
        {
            Console.Out.WriteLine("Selection: " + text);
        }
    }

    private static string Field(JsonElement row, string name) =>
        row.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.String ? Markup.Escape(v.GetString()!) : v.GetRawText()
            : "-";
}
