using System.ComponentModel;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Shadowing.Cli.Samples;
using Shadowing.Core.Routing;
using Shadowing.Embedded;
using Shadowing.Forecasting;
using Shadowing.Forecasting.Pae;
using Shadowing.Metrics;
using Shadowing.Router.Hosting;
using Shadowing.Router.Routing;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Up;

/// <summary>
/// <c>shadowing up</c>: the embedded default host. Starts the SQLite store, the in-process bus and the router
/// in this process, and the sample service's endpoints as child processes; prints where everything listens;
/// stops everything on Ctrl+C.
/// </summary>
internal sealed class UpCommand : AsyncCommand<UpCommand.Settings>
{
    /// <summary>Prefix of the line that says where the router listens.</summary>
    public const string RouterLine = "Router listening on ";

    private static readonly TimeSpan SampleStartTimeout = TimeSpan.FromSeconds(30);

    public sealed class Settings : CommandSettings
    {
        [CommandOption("-c|--config <FILE>")]
        [Description("Configuration file (JSON). Default: the sample configuration shadowing.json shipped with the CLI.")]
        public string? Config { get; init; }

        [CommandOption("--urls <URLS>")]
        [Description("Where the router listens, overriding Urls in the configuration.")]
        public string? Urls { get; init; }

        [CommandOption("--state <PATH>")]
        [Description("SQLite state file (or :memory:), overriding Shadowing:Embedded:StatePath.")]
        public string? State { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var configPath = settings.Config ?? Path.Combine(AppContext.BaseDirectory, "shadowing.json");
        if (!File.Exists(configPath))
        {
            AnsiConsole.MarkupLineInterpolated($"[red]Configuration file '{configPath}' does not exist.[/]");
            return 2;
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.AddJsonFile(Path.GetFullPath(configPath), optional: false, reloadOnChange: false);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = settings.Urls ?? builder.Configuration["Urls"] ?? "http://127.0.0.1:5080",
            [EmbeddedOptions.Section + ":StatePath"] = settings.State ?? builder.Configuration[EmbeddedOptions.Section + ":StatePath"] ?? new EmbeddedOptions().StatePath,
        });
        builder.WebHost.UseUrls(builder.Configuration["Urls"]!);

        IReadOnlyDictionary<string, SampleServiceOptions> samples;
        try
        {
            samples = UpSamples.Read(builder.Configuration);
        }
        catch (InvalidOperationException ex)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{configPath}: {ex.Message}[/]");
            return 2;
        }

        var processes = new List<SampleProcess>();
        try
        {
            foreach (var (service, options) in samples)
            {
                foreach (var endpoint in options.Production)
                {
                    processes.Add(await SampleProcess.StartAsync(service, endpoint, EndpointRole.Production, SampleStartTimeout, cancellationToken).ConfigureAwait(false));
                }

                if (options.Default is { } fallback)
                {
                    processes.Add(await SampleProcess.StartAsync(service, fallback, EndpointRole.Default, SampleStartTimeout, cancellationToken).ConfigureAwait(false));
                }
            }

            var tables = samples
                .Select(s => UpSamples.ToRoutingTable(s.Key, s.Value, id => processes.Single(p => p.Service == s.Key && p.Options.Id == id).Address))
                .ToArray();
            builder.Services.AddShadowingEmbedded();
            builder.Services.AddRoutingTableSeed(tables, $"the sample service in {configPath}");
            builder.Services.AddShadowingRouter(builder.Configuration);
            builder.Services.AddShadowingMetrics(builder.Configuration);
            builder.Services.AddShadowingPaeTimer(builder.Configuration);
            await using var app = builder.Build();
            app.MapShadowingRouter();
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            PrintWhereEverythingListens(app, builder.Configuration, processes);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            AnsiConsole.MarkupLine("Stopping …");
            return 0;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or SocketException or OptionsValidationException or RoutesFileException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]shadowing up failed: {ex.Message}[/]");
            return 1;
        }
        finally
        {
            await Task.WhenAll(processes.Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }

    private static void PrintWhereEverythingListens(WebApplication app, IConfiguration configuration, IReadOnlyList<SampleProcess> processes)
    {
        var router = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        var statePath = configuration[EmbeddedOptions.Section + ":StatePath"]!;
        var table = new Table().AddColumns("Part", "Where", "What");
        table.AddRow("router", Markup.Escape(router), "requests: /{service}/…, health: /healthz, metrics: /metrics");
        table.AddRow("state store", Markup.Escape(statePath == ":memory:" ? statePath : Path.GetFullPath(statePath)), "SQLite");
        var pae = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PaeOptions>>().Value;
        table.AddRow("PAE", $"every {pae.Interval}", Markup.Escape($"forecasts {pae.Horizon} ahead from the router's records into forecast/{{service}}"));
        foreach (var process in processes)
        {
            table.AddRow(Markup.Escape($"{process.Service}/{process.Options.Id}"), Markup.Escape(process.Address.ToString().TrimEnd('/')), $"sample {process.Role.ToString().ToLowerInvariant()} endpoint");
        }

        AnsiConsole.Write(table);

        // One plain line that scripts and tests can rely on.
        Console.Out.WriteLine(RouterLine + router);
        var example = processes.FirstOrDefault()?.Service;
        if (example is not null)
        {
            AnsiConsole.MarkupLineInterpolated($"Try: curl {router}/{example}/hello   ·   Ctrl+C stops everything");
        }

        Console.Out.Flush();
    }
}
