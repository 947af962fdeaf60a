using Shadowing.Control;
using Shadowing.Core.Configuration;
using Shadowing.Core.Data;
using Shadowing.Dapr;
using Shadowing.Dapr.Messaging;
using Shadowing.Dapr.State;
using Shadowing.Hosting;

namespace Shadowing.Workflows;

/// <summary>Composition of the workflow host.</summary>
public static class WorkflowsServiceCollectionExtensions
{
    /// <summary>
    /// The adapters chosen by <c>Shadowing:Mode</c> (Dapr with a sidecar, else embedded), the workflow runtime running the
    /// shadow lifecycle (daprd's, or the embedded backend), the provisioner chosen by <c>Shadowing:Provisioning:Kind</c>
    /// (local processes by default), SEP's intake, and the control API. Continuous
    /// validation runs here only on the embedded adapters; with Dapr the Functions app's <c>ValidateShadows</c> timer does it,
    /// so two hosts never judge (and remediate) the same shadow twice.
    /// </summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A key under <c>Shadowing</c> binds to nothing here; its failures name each one.</exception>
    public static IServiceCollection AddShadowingWorkflows(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var mode = services.AddShadowingAdapters(configuration);
        services.AddShadowingWorkflowRuntime(configuration, mode, o => o.RegisterShadowLifecycle());
        services.AddShadowingProvisioner(configuration);
        services.AddShadowLifecycle(configuration, revalidationTimer: mode == ShadowingMode.Embedded);
        if (mode == ShadowingMode.Dapr)
        {
            // The embedded store keeps its own change log; with Dapr, the outbox's messages are the changes.
            services.AddShadowingOutboxChangeFeed(DataServices(configuration));
        }

        services.AddShadowingControl();
        services.AddHealthChecks();

        // Settings this host does not read here: `up`'s admin address, and with Dapr the embedded mode's; set in a shell
        // shared with `up` (or left from an embedded run), they are not misspellings.
        services.AddSingleton(new SettingsSection("Shadowing:Admin:Urls", typeof(string)));
        if (mode == ShadowingMode.Dapr)
        {
            services.AddSingleton(new SettingsSection(Shadowing.Embedded.EmbeddedOptions.Section, typeof(Shadowing.Embedded.EmbeddedOptions)));
            services.AddSingleton(new SettingsSection(Shadowing.Embedded.EmbeddedOptions.Section + ":PubSub", typeof(Shadowing.Embedded.Messaging.InProcessEventBusOptions)));
            services.AddSingleton(new SettingsSection(Shadowing.Embedded.Workflows.EmbeddedWorkflowOptions.Section, typeof(Shadowing.Embedded.Workflows.EmbeddedWorkflowOptions)));
        }

        // Everything else under Shadowing binds in this app (the PAE's Pae section is the Functions app's), so a misspelt
        // Shadowing:Sep:GuardRails:MaxShadows (for MaxShadowsPerService), which the binder would ignore, stops it with the key named.
        return services.CheckSettingsSpelling(configuration, "the workflows app", "Shadowing");
    }

    /// <summary>
    /// Maps <c>/healthz</c>, the control API's workflow-instance routes (<c>/api/workflows/…</c>: the Functions app reaches
    /// this host's instances through them by service invocation, since only this app's sidecar serves them; with
    /// <c>APP_API_TOKEN</c> set only a daprd may call them, and a Dapr access-control policy should allow only the
    /// <c>functions</c> app) and, with Dapr, the pub/sub routes daprd delivers <c>shadow-requests</c>, <c>shadow-verdicts</c> and each data service's
    /// <c>data-changes.{service}</c> to.
    /// </summary>
    public static WebApplication MapShadowingWorkflows(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks("/healthz");
        app.MapShadowingControl(workflowRoutesOnly: true).RequireDaprAppToken();
        if (app.Services.GetService<DaprEventBus>() is not null)
        {
            if (DaprAppToken.Read(app.Configuration) is null)
            {
                // Not refused: `dapr run -f dapr.yaml` binds the app to loopback without a token. Deployed, this is an open door.
                app.Logger.LogWarning(
                    "{Key} is not set: anything that reaches this app's port can terminate workflows, raise their events and post shadow requests and verdicts as daprd would. Set daprd's app token (dapr.io/app-token-secret on Kubernetes) unless only daprd can reach the port",
                    DaprAppToken.ConfigurationKey);
            }

            app.MapShadowingEvents();
            var feed = app.Services.GetService<OutboxChangeFeed>();
            app.MapDaprSubscriptions(DaprAppIds.Workflows, () => feed?.Services.Select(DaprSubscriptions.DataChanges) ?? []);
        }

        return app;
    }

    /// <summary>The services whose shadows get data (<c>Shadowing:Sep:Data:{service}:Mode</c> set and not None).</summary>
    internal static IReadOnlyList<string> DataServices(IConfiguration configuration) =>
        [.. configuration.GetSection(ShadowDataOptions.Section).GetChildren()
            .Where(c => Enum.TryParse<DataSyncMode>(c["Mode"], ignoreCase: true, out var mode) && mode != DataSyncMode.None)
            .Select(c => c.Key)];
}
