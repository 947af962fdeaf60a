using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Shadowing.Core.Configuration;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Dapr.Messaging;
using Shadowing.Hosting;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Health;
using Shadowing.Router.Metrics;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Hosting;

/// <summary>Composition of the router.</summary>
public static class RouterServiceCollectionExtensions
{
    /// <summary>The configuration key of the routing file to seed at start (command line <c>--routes FILE</c>).</summary>
    public const string RoutesKey = "routes";

    /// <summary>The configuration key that makes the seed overwrite stored tables (command line <c>--replace=true</c>).</summary>
    public const string ReplaceKey = "replace";

    /// <summary>The OpenTelemetry service name of the router's metrics (<c>target_info</c>), unless <c>OTEL_SERVICE_NAME</c> is set.</summary>
    public const string ServiceName = "shadowing-router";

    /// <summary>
    /// Registers the router on a web application builder: the adapters chosen by <c>Shadowing:Mode</c>, then
    /// <see cref="AddShadowingRouter(IServiceCollection, IConfiguration)"/>.
    /// </summary>
    public static WebApplicationBuilder AddShadowingRouter(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddShadowingAdapters(builder.Configuration);
        builder.Services.AddShadowingRouter(builder.Configuration);
        return builder;
    }

    /// <summary>
    /// Registers the router's services on top of an <c>IStateStore</c> and <c>IEventBus</c> registered elsewhere.
    /// Reads <see cref="RouterOptions.Section"/> (validated at start) and, when <c>routes</c> is set, loads that
    /// routing file now (throwing <see cref="RoutesFileException"/> if it is invalid) and seeds it into the store at start.
    /// </summary>
    public static IServiceCollection AddShadowingRouter(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(RandomSource.Shared);
        services.AddOptions<RouterOptions>().Bind(configuration.GetSection(RouterOptions.Section)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RouterOptions>, RouterOptionsValidator>());
        services.AddSingleton(new SettingsSection(RouterOptions.Section, typeof(RouterOptions)));
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<RouterOptions>>((kestrel, router) => ApplyLimits(kestrel, router.Value.Limits));

        // RFC 9112 lets a server take a bare LF as a line end, and Kestrel does by default; an endpoint behind the router
        // that does not would read the same bytes as different headers, so the router refuses them (400).
        AppContext.SetSwitch("Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators", true);
        services.AddHttpForwarder();
        services.TryAddSingleton(DaprSidecarEndpoint.FromConfiguration(configuration));
        services.TryAddSingleton<RouteSelector>();
        services.TryAddSingleton<RoutingTableStore>();
        services.TryAddSingleton<EndpointRegistry>();
        services.TryAddSingleton<ForwarderClient>();
        services.TryAddSingleton<RouterMetrics>();
        services.TryAddSingleton<ServiceForwarder>();
        services.TryAddSingleton<RoutingTableCache>();
        services.TryAddSingleton<HealthProber>();
        services.TryAddSingleton<AdminAccess>();
        services.TryAddSingleton<MinuteRecorder>();
        services.TryAddSingleton<Alerts.AlertPublisher>();
        services.TryAddSingleton<Alerts.AlertWebhook>();
        services.TryAddSingleton<OutcomeRecorder>();
        services.TryAddSingleton<Retention.RetentionSweeper>();
        services.TryAddSingleton(sp => new MirrorMemory(sp.GetRequiredService<IOptions<RouterOptions>>().Value.Mirroring.MaxBufferedBytes));
        services.TryAddSingleton<MirrorSender>();
        services.TryAddSingleton<MirrorDispatcher>();
        services.TryAddSingleton<MirrorReplayer>();

        // Hosted services start in this order: seed the store, load the tables, then probe and record.
        if (configuration[RoutesKey] is { Length: > 0 } routesPath)
        {
            services.AddRoutingTableSeed(RoutesFile.Load(routesPath), routesPath, configuration.GetValue<bool>(ReplaceKey) ? RoutingTableSeedMode.Replace : RoutingTableSeedMode.KeepStored);
        }

        services.AddHostedService(sp => sp.GetRequiredService<Alerts.AlertPublisher>());
        services.AddHostedService(sp => sp.GetRequiredService<Alerts.AlertWebhook>());
        services.AddHostedService(sp => sp.GetRequiredService<RoutingTableCache>());
        services.AddHostedService(sp => sp.GetRequiredService<HealthProber>());
        services.AddHostedService(sp => sp.GetRequiredService<MinuteRecorder>());

        // They stop in the reverse order: the outcome recorder's final flush after the copies still being sent have ended.
        services.AddHostedService(sp => sp.GetRequiredService<OutcomeRecorder>());
        services.AddHostedService(sp => sp.GetRequiredService<MirrorDispatcher>());
        services.AddHostedService(sp => sp.GetRequiredService<MirrorReplayer>());
        services.AddHostedService(sp => sp.GetRequiredService<Retention.RetentionSweeper>());

        // target_info names the service (it read unknown_service:exe); OTEL_SERVICE_NAME, detected after, still wins.
        services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService(ServiceName).AddEnvironmentVariableDetector()).WithMetrics(metrics => ((IDeferredMeterProviderBuilder)metrics
            .AddMeter(RouterMetrics.MeterName, BackgroundLoop.MeterName, Embedded.Messaging.InProcessEventBus.MeterName, Core.Validation.ShadowValidator.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"))
            .Configure((provider, builder) =>
            {
                // Meters are matched by name process-wide: another host in the process (tests, an embedded stack) would add its
                // instruments to this /metrics, and enough of them exhaust the provider's stream limit so that this host's
                // own are dropped. Only meters from this host's factory, or from none (new Meter), are exported.
                var factory = provider.GetRequiredService<IMeterFactory>();
                builder.AddView(instrument => instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, factory) ? null : MetricStreamConfiguration.Drop);
            })
            .AddPrometheusExporter());
        return services;
    }

    private static void ApplyLimits(KestrelServerOptions kestrel, RequestLimitsOptions limits)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.MaxRequestBodySize = limits.MaxRequestBodyBytes;
        kestrel.Limits.MaxRequestHeaderCount = limits.MaxRequestHeaderCount;
        kestrel.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersTotalBytes;
        kestrel.Limits.MaxRequestLineSize = limits.MaxRequestLineBytes;
        kestrel.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
        kestrel.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
        kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyBytesPerSecond, TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// Writes <paramref name="tables"/> into the store at start, for services that have no stored table; one that has is
    /// treated as <paramref name="mode"/> says. Call before <see cref="AddShadowingRouter(IServiceCollection, IConfiguration)"/>.
    /// </summary>
    public static IServiceCollection AddRoutingTableSeed(this IServiceCollection services, IReadOnlyList<RoutingTable> tables, string source, RoutingTableSeedMode mode = RoutingTableSeedMode.KeepStored)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(tables);
        services.TryAddSingleton<RoutingTableStore>();
        services.AddHostedService(sp => ActivatorUtilities.CreateInstance<RoutingTableSeeder>(sp, tables, source, mode));
        return services;
    }

    /// <summary>
    /// Waits, after the host started, until the router routes: its tables are loaded (the store answered) and every
    /// endpoint has been probed once (or <paramref name="probeTimeout"/> passed), so that the first request after
    /// this meets the health the router will keep. Returns why it cannot route, or null.
    /// </summary>
    public static async Task<string?> WaitUntilRoutingAsync(this WebApplication app, TimeSpan probeTimeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(app);
        try
        {
            await app.Services.GetRequiredService<HealthProber>().FirstRound.WaitAsync(probeTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Probes that hang are no reason to stop: the router serves anyway and /healthz says which endpoints are unknown.
        }

        var status = app.Services.GetRequiredService<RoutingTableCache>().Status;
        return status.Loaded ? null : $"the router could not load its routing tables: {status.LastError ?? "no answer from the store"}";
    }

    /// <summary>
    /// Maps the router's detailed <c>/healthz</c> document (every endpoint's health and load) at <paramref name="pattern"/>
    /// on another host in the same process, such as the embedded host's loopback admin port, reading the router of
    /// <paramref name="router"/>; maps nothing and returns false when <paramref name="router"/> has no router. The same
    /// access rule applies: loopback callers or <c>Router:AdminToken</c>.
    /// </summary>
    public static bool MapShadowingRouterHealth(this IEndpointRouteBuilder endpoints, string pattern, IServiceProvider router)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(router);
        if (router.GetService<RoutingTableCache>() is not { } cache)
        {
            return false;
        }

        var access = router.GetRequiredService<AdminAccess>();
        var time = router.GetRequiredService<TimeProvider>();
        endpoints.MapGet(pattern, (HttpContext context) => HealthEndpoint.Handle(context, cache, access, time));
        return true;
    }

    /// <summary>
    /// Maps <c>/healthz</c>, <c>/metrics</c> (Prometheus), <c>/events/{topic}</c> (with Dapr) and the routed
    /// <c>/{service}/{**path}</c>.
    /// </summary>
    public static WebApplication MapShadowingRouter(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/healthz", HealthEndpoint.Handle);
        var access = app.Services.GetRequiredService<AdminAccess>();
        app.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null, configureBranchedPipeline: branch => branch.Use((context, next) => access.Allows(context) ? next(context) : access.RefuseAsync(context)), optionsName: null);
        if (app.Services.GetService<DaprEventBus>() is not null)
        {
            app.MapShadowingEvents();
            // Mirror topics come from the routing tables daprd finds when it asks, at its start. A table not read yet gets its
            // topic too, whatever its transport, or its copies would never be delivered to a router that became healthy
            // before it was read: nothing is published on an unused one, and what is, is retried until the table is read
            // (or dead-lettered after daprd's retries).
            var cache = app.Services.GetRequiredService<RoutingTableCache>();
            app.MapDaprSubscriptions(Dapr.DaprAppIds.Router, () => cache.Current.Services.Values
                .Where(r => r.Table.Mirror is { Enabled: true, Transport: Core.Mirroring.MirrorTransport.PubSub })
                .Select(r => r.Service)
                .Concat(cache.Current.Unread)
                .Select(DaprSubscriptions.Mirror));
        }

        app.Map("/{service}/{**path}", (HttpContext context, string service, ServiceForwarder forwarder) => forwarder.HandleAsync(context, service));
        return app;
    }
}
