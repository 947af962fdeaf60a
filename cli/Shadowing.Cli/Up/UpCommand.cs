using System.ComponentModel;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenTelemetry.Metrics;
using Shadowing.Cli.Samples;
using Shadowing.Control;
using Shadowing.Core.Configuration;
using Shadowing.Core.Routing;
using Shadowing.Embedded;
using Shadowing.Embedded.State;
using Shadowing.Embedded.Provisioning;
using Shadowing.Embedded.Workflows;
using Shadowing.Forecasting;
using Shadowing.Forecasting.Pae;
using Shadowing.Hosting;
using Shadowing.Metrics;
using Shadowing.Router.Hosting;
using Shadowing.Router.Routing;
using Shadowing.Workflows;
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

    /// <summary>Prefix of the line that says where the admin API listens.</summary>
    public const string AdminLine = "Admin API listening on ";

    private static readonly TimeSpan SampleStartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(15);

    public sealed class Settings : CommonSettings
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

        [CommandOption("--admin-urls <URLS>")]
        [Description("Where the admin API (shadowing status, /api/…) listens, loopback only, overriding Shadowing:Admin:Urls. Default: " + UpAdmin.DefaultUrls + ".")]
        public string? AdminUrls { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var configPath = settings.Config ?? Path.Combine(AppContext.BaseDirectory, "shadowing.json");
        if (!File.Exists(configPath))
        {
            throw new UsageException($"--config: configuration file '{configPath}' does not exist (looked for {Path.GetFullPath(configPath)}).");
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.AddShadowingLogging(settings.Verbose);
        try
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configPath), optional: false, reloadOnChange: false);

            // Environment variables override the file, as they override appsettings.json in any ASP.NET Core host.
            builder.Configuration.AddEnvironmentVariables();
        }
        catch (InvalidDataException ex)
        {
            throw new UsageException($"--config: '{configPath}' is not valid JSON: {ex.InnerException?.Message ?? ex.Message}", ex);
        }

        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = settings.Urls ?? builder.Configuration["Urls"] ?? "http://127.0.0.1:5080",
            [EmbeddedOptions.Section + ":StatePath"] = settings.State ?? builder.Configuration[EmbeddedOptions.Section + ":StatePath"] ?? new EmbeddedOptions().StatePath,
        });
        var urls = builder.Configuration["Urls"]!;
        if (UrlsProblem(urls) is { } problem)
        {
            throw new UsageException((settings.Urls is null ? $"Urls in {configPath}" : "--urls") + ": " + problem);
        }

        builder.WebHost.UseUrls(urls);
        var adminUrls = settings.AdminUrls ?? builder.Configuration[UpAdmin.UrlsKey] ?? UpAdmin.DefaultUrls;
        if (UpAdmin.UrlsProblem(adminUrls) is { } adminProblem)
        {
            throw new UsageException((settings.AdminUrls is null ? $"{UpAdmin.UrlsKey} in {configPath}" : "--admin-urls") + ": " + adminProblem);
        }

        // Composed before any sample starts, so a misspelt key stops `up` at once: the tables are seeded once the host starts.
        var tables = new List<RoutingTable>();
        builder.Services.AddUpHost(builder.Configuration, tables, $"the sample service in {configPath}").CheckUpSettings(builder.Configuration);

        IReadOnlyDictionary<string, SampleServiceOptions> samples;
        try
        {
            samples = UpSamples.Read(builder.Configuration);
        }
        catch (InvalidOperationException ex)
        {
            // Environment variables override the file, so the bad value may come from either.
            throw new UsageException($"{configPath} (or an environment variable overriding it): {ex.Message}", ex);
        }

        var processes = new List<SampleProcess>();
        // The sample's data API shares the stack's SQLite file (WAL lets processes share it); an in-memory store cannot be shared.
        var dataState = builder.Configuration[EmbeddedOptions.Section + ":StatePath"] is { } path && path != SqliteStateStore.InMemory ? Path.GetFullPath(path) : null;
        try
        {
            foreach (var (service, options) in samples)
            {
                foreach (var endpoint in options.Production)
                {
                    processes.Add(await SampleProcess.StartAsync(service, endpoint, EndpointRole.Production, SampleStartTimeout, cancellationToken, dataState).ConfigureAwait(false));
                }

                if (options.Default is { } fallback)
                {
                    processes.Add(await SampleProcess.StartAsync(service, fallback, EndpointRole.Default, SampleStartTimeout, cancellationToken, dataState).ConfigureAwait(false));
                }
            }

            tables.AddRange(samples.Select(s => UpSamples.ToRoutingTable(s.Key, s.Value, id => processes.Single(p => p.Service == s.Key && p.Options.Id == id).Address)));
            builder.Services.PostConfigure<LocalProvisionerOptions>(o =>
            {
                foreach (var (service, options) in samples)
                {
                    o.Services.TryAdd(service, UpSamples.ShadowTemplate(service, options, dataState));
                }
            });
            await using var app = builder.Build();
            app.MapShadowingRouter();
            await StartAsync(app, cancellationToken).ConfigureAwait(false);
            await using var admin = await StartAdminAsync(app, adminUrls, cancellationToken).ConfigureAwait(false);
            if (await app.WaitUntilRoutingAsync(ReadyTimeout, cancellationToken).ConfigureAwait(false) is { } notRouting)
            {
                throw new StartFailedException(notRouting);
            }

            PrintWhereEverythingListens(app, UpAdmin.AddressOf(admin), builder.Configuration, processes);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            AnsiConsole.MarkupLine("Stopping …");
            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C while the samples or the host were still starting is a stop like any other, not a failure.
            AnsiConsole.MarkupLine("Stopping …");
            return ExitCodes.Ok;
        }
        finally
        {
            await Task.WhenAll(processes.Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
    }

    /// <summary>Why <paramref name="urls"/> (semicolon-separated) cannot be listened on, or null.</summary>
    internal static string? UrlsProblem(string urls)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Kestrel also takes http://*:port and http://+:port, which Uri reads as a host named * or +.
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query))
            {
                return $"'{url}' is not a URL to listen on, such as http://127.0.0.1:5080.";
            }
        }

        return null;
    }

    /// <summary>Starts the host, turning a start failure that has a plain cause into a one-line error.</summary>
    private static async Task StartAsync(WebApplication app, CancellationToken cancellationToken)
    {
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (RouterHost.Describe(ex) is { } failure)
        {
            throw failure.Code == ExitCodes.Usage ? new UsageException(failure.Message, ex) : new StartFailedException(failure.Message, ex);
        }
    }

    private static async Task<WebApplication> StartAdminAsync(WebApplication app, string urls, CancellationToken cancellationToken)
    {
        try
        {
            return await UpAdmin.StartAsync(app.Services, urls, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (RouterHost.Describe(ex) is { } failure)
        {
            throw new StartFailedException("admin API: " + failure.Message, ex);
        }
    }

    private static void PrintWhereEverythingListens(WebApplication app, string admin, IConfiguration configuration, IReadOnlyList<SampleProcess> processes)
    {
        var router = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        var statePath = configuration[EmbeddedOptions.Section + ":StatePath"]!;
        var table = new Table().AddColumns("Part", "Where", "What");
        table.AddRow("router", Markup.Escape(router), "requests: /{service}/…, health: /healthz, metrics: /metrics");
        table.AddRow("admin API", Markup.Escape(admin), "shadowing status, /api/services/{service}, /api/workflows/{id}, /v1.0/workflows/dapr/{id} (loopback only)");
        table.AddRow("dashboard", Markup.Escape(admin + "/ui"), "services, endpoints, shadows and their phases, forecast against demand, routing split");
        table.AddRow("state store", Markup.Escape(statePath == ":memory:" ? statePath : Path.GetFullPath(statePath)), "SQLite");
        var pae = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PaeOptions>>().Value;
        table.AddRow("PAE", $"every {pae.Interval}", Markup.Escape($"forecasts {pae.Horizon} ahead from the router's records into forecast/{{service}}"));
        var sep = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Shadowing.Core.Shadows.ShadowGuardRails>>().Value;
        var workflowStore = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Shadowing.Embedded.Workflows.EmbeddedWorkflowOptions>>().Value.StatePath;
        table.AddRow("SEP", Markup.Escape(workflowStore ?? "workflows.db beside the state file"), Markup.Escape(
            $"shadow requests → ShadowLifecycleWorkflow → local-process shadows (at most {sep.MaxShadowsPerService} per service, {sep.EndpointHoursPerDay} endpoint-hours a day{(sep.DryRun ? ", dry run" : string.Empty)}); shadowing plans, shadowing kill-switch"));
        foreach (var process in processes)
        {
            table.AddRow(Markup.Escape($"{process.Service}/{process.Options.Id}"), Markup.Escape(process.Address.ToString().TrimEnd('/')), $"sample {process.Role.ToString().ToLowerInvariant()} endpoint");
        }

        AnsiConsole.Write(table);

        // One plain line that scripts and tests can rely on.
        Console.Out.WriteLine(RouterLine + router);
        Console.Out.WriteLine(AdminLine + admin);
        var example = processes.FirstOrDefault()?.Service;
        if (example is not null)
        {
            AnsiConsole.MarkupLineInterpolated($"Try: curl {router}/{example}/hello   ·   Ctrl+C stops everything");
        }

        Console.Out.Flush();
    }
}

/// <summary>What <c>shadowing up</c> runs in its process.</summary>
internal static class UpHost
{
    /// <summary>
    /// The embedded adapters, the router seeded with <paramref name="tables"/>, the metrics source, the PAE timer, and
    /// SEP: the shadow lifecycle workflow on the embedded workflow backend with the local-process provisioner; ports
    /// registered before this call (a test's store, metrics source or provisioner) are kept.
    /// </summary>
    public static IServiceCollection AddUpHost(this IServiceCollection services, IConfiguration configuration, IReadOnlyList<RoutingTable> tables, string source)
    {
        services.AddShadowingEmbedded();
        services.AddRoutingTableSeed(tables, source, RoutingTableSeedMode.ProductionFromSource); // up runs them where its configuration says
        services.AddShadowingRouter(configuration);
        services.AddShadowingMetrics(configuration);
        services.AddShadowingPaeTimer(configuration);
        services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter(PaeMetrics.MeterName, Shadowing.Workflows.Data.ShadowDataService.MeterName));
        services.AddEmbeddedDaprWorkflows(configuration, o => o.RegisterShadowLifecycle());
        services.AddLocalProcessProvisioner(configuration);
        services.AddShadowLifecycle(configuration);
        services.AddShadowingControl();
        return services;
    }

    /// <summary>
    /// Refuses a key under <c>up</c>'s sections (<c>Shadowing</c>, <c>Pae</c>, <c>Router</c>, <c>Samples</c>) that binds to
    /// nothing: <c>up</c> hosts every part, so a key there that none of them reads is a mistake. Call after <see cref="AddUpHost"/>.
    /// </summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Such a key; the failures name each.</exception>
    public static IServiceCollection CheckUpSettings(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(new SettingsSection(UpSamples.Section, typeof(Dictionary<string, SampleServiceOptions>)));
        services.AddSingleton(new SettingsSection(UpAdmin.UrlsKey, typeof(string)));

        // Settings of the hosts that run with Dapr, which `up` (always embedded, shadows as local processes) does not read:
        // set in a shell shared with `dapr run`, they are not misspellings.
        services.AddSingleton(new SettingsSection(ShadowingModeExtensions.Key, typeof(ShadowingMode)));
        services.AddSingleton(new SettingsSection(ShadowProvisioners.KindKey, typeof(string)));
        services.AddSingleton(new SettingsSection(Shadowing.Dapr.Provisioning.DaprProvisionerOptions.Section, typeof(Shadowing.Dapr.Provisioning.DaprProvisionerOptions)));
        services.AddSingleton(new SettingsSection(Shadowing.ContainerApps.ContainerAppsProvisionerOptions.Section, typeof(Shadowing.ContainerApps.ContainerAppsProvisionerOptions)));
        return services.CheckSettingsSpelling(configuration, "shadowing up", "Shadowing", PaeOptions.Section, Router.RouterOptions.Section, UpSamples.Section);
    }
}
