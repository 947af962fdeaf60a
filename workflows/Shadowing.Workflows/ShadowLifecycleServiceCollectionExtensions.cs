using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.Data;
using Shadowing.Workflows.Data;
using System.ComponentModel.DataAnnotations;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Intake;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows;

/// <summary>Composition of SEP: the lifecycle workflow, its activities, the request intake and continuous validation.</summary>
public static class ShadowLifecycleServiceCollectionExtensions
{
    /// <summary>
    /// Registers what the lifecycle's activities and the intake need, bound to <see cref="ShadowLifecycleOptions.Section"/>
    /// and <see cref="ShadowGuardRails.Section"/>, and subscribes the intake to <c>shadow-requests</c>. The state store,
    /// event bus, an <see cref="IShadowProvisioner"/> and the workflow runtime (registered with
    /// <see cref="RegisterShadowLifecycle"/>) must be registered too. A maintenance timer enforces the kill switch and sweeps
    /// shadows whose workflow ended; <paramref name="revalidationTimer"/> makes it run continuous validation too (not with
    /// Dapr, where the Functions app's timer does it).
    /// </summary>
    public static IServiceCollection AddShadowLifecycle(this IServiceCollection services, IConfiguration configuration, bool revalidationTimer = true)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<ShadowLifecycleOptions>().Bind(configuration.GetSection(ShadowLifecycleOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ShadowGuardRails>().Bind(configuration.GetSection(ShadowGuardRails.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(new SettingsSection(ShadowLifecycleOptions.Section, typeof(ShadowLifecycleOptions)));
        services.AddSingleton(new SettingsSection(ShadowGuardRails.Section, typeof(ShadowGuardRails)));
        services.AddSingleton(new SettingsSection(ShadowDataOptions.Section, typeof(Dictionary<string, ShadowDataOptions>)));
        services.TryAddSingleton<RoutingTableStore>();
        services.TryAddSingleton<ShadowValidator>();
        services.TryAddSingleton<AlertOutbox>();
        services.TryAddSingleton<ShadowRequestIntake>();
        services.TryAddSingleton<ShadowRevalidation>();
        services.TryAddSingleton<ShadowReconciler>();
        services.AddMetrics();
        services.AddSingleton<IConfigureOptions<ShadowDataOptions>>(new PerServiceDataOptions(configuration));
        foreach (var service in configuration.GetSection(ShadowDataOptions.Section).GetChildren())
        {
            // Checked at start as every other setting is: a misspelt mode otherwise surfaced only when a shadow of the
            // service synced, failing it after its retries. A change made while running is that service's alone (below).
            services.AddOptions<ShadowDataOptions>(service.Key).ValidateOnStart();
        }

        services.TryAddSingleton(sp => new ShadowDataService(
            sp.GetRequiredService<RoutingTableStore>(),
            sp.GetRequiredService<Core.State.IStateStore>(),
            sp.GetService<IChangeFeed>(), // the embedded store is one; with Dapr, the outbox feed
            sp.GetRequiredService<IOptionsMonitor<ShadowDataOptions>>(),
            sp.GetRequiredService<IOptions<ShadowLifecycleOptions>>(),
            sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<ShadowDataService>>(),
            sp.GetService<Core.Data.IProductionData>())); // with Dapr, each service's data-{service} component
        services.AddHostedService(sp => sp.GetRequiredService<ShadowReconciler>());
        services.AddHostedService<ShadowRequestSubscription>();
        services.AddHostedService<ShadowVerdictRelay>();
        services.AddHostedService(sp => ActivatorUtilities.CreateInstance<ShadowMaintenanceTimer>(sp, revalidationTimer));
        return services;
    }

    /// <summary>Binds a service's data settings from <c>Shadowing:Sep:Data:{service}</c> (the options name is the service), checked like the other settings.</summary>
    private sealed class PerServiceDataOptions(IConfiguration configuration) : IConfigureNamedOptions<ShadowDataOptions>
    {
        public void Configure(string? name, ShadowDataOptions options)
        {
            var section = configuration.GetSection(ShadowDataOptions.Section).GetSection(name ?? string.Empty);
            if (section[nameof(ShadowDataOptions.Mode)] is { } given && !Enum.GetNames<DataSyncMode>().Contains(given.Trim(), StringComparer.OrdinalIgnoreCase))
            {
                // The binder takes "7" or "None, Differential" (an enum's number, a flags list) as a mode: only the names are.
                throw new OptionsValidationException(name ?? string.Empty, typeof(ShadowDataOptions), [BadMode(section, given)]);
            }

            try
            {
                section.Bind(options);
            }
            catch (InvalidOperationException ex)
            {
                // A value that does not convert ("1h" for a TimeSpan, a misspelt mode): the binder's message names the key.
                // As a validation failure it is this service's alone; the maintenance tick skips it and keeps the others.
                throw new OptionsValidationException(name ?? string.Empty, typeof(ShadowDataOptions), [ex.Message]);
            }

            // One value where a list is bound (Shadowing__Sep__Data__orders__MaskFields=address): the binder leaves the list
            // empty without a word, and the field would be copied unmasked. Read as a comma-separated list.
            if (section.GetSection(nameof(ShadowDataOptions.MaskFields)) is { Value: { Length: > 0 } single } masked && !masked.GetChildren().Any())
            {
                foreach (var field in single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    options.MaskFields.Add(field);
                }
            }

            var errors = new List<ValidationResult>();
            if (!Validator.TryValidateObject(options, new ValidationContext(options), errors, validateAllProperties: true))
            {
                throw new OptionsValidationException(name ?? string.Empty, typeof(ShadowDataOptions), errors.Select(e => $"{ShadowDataOptions.Section}:{name}:{string.Join(",", e.MemberNames)}: {e.ErrorMessage}"));
            }
        }

        public void Configure(ShadowDataOptions options) => Configure(Options.DefaultName, options);

        private static string BadMode(IConfigurationSection section, string given) =>
            $"{section.Path}:{nameof(ShadowDataOptions.Mode)} is '{given}'; use one of {string.Join(", ", Enum.GetNames<DataSyncMode>())}.";
    }

    /// <summary>
    /// Registers the lifecycle workflow and its activities with the workflow runtime (daprd's or the embedded backend's).
    /// Dapr.Workflow's source generator already lists every workflow and activity of this assembly in a module initializer
    /// that <c>AddDaprWorkflow</c> applies; registering them again only logs a warning per type, so this makes sure that
    /// initializer has run, whichever assembly composes the host.
    /// </summary>
    public static void RegisterShadowLifecycle(this WorkflowRuntimeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(ShadowLifecycleWorkflow).Module.ModuleHandle);
    }
}
