using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.ContainerApps;
using Shadowing.Core.Configuration;
using Shadowing.Core.Shadows;
using Shadowing.Dapr.Provisioning;
using Shadowing.Embedded.Provisioning;

namespace Shadowing.Hosting;

/// <summary>Where shadows run: the provisioner a host uses, chosen by <c>Shadowing:Provisioning:Kind</c>.</summary>
public static class ShadowProvisioners
{
    /// <summary>The configuration key.</summary>
    public const string KindKey = "Shadowing:Provisioning:Kind";

    /// <summary>
    /// Registers the <see cref="IShadowProvisioner"/> named by <see cref="KindKey"/>: <c>Local</c> (default: processes on
    /// this machine, <c>Shadowing:Provisioning:Local</c>), <c>Dapr</c> (a platform team's provisioner app called through
    /// Dapr service invocation, <c>Shadowing:Provisioning:Dapr:AppId</c>) or <c>ContainerApps</c> (shadow container apps
    /// cloned from production, <c>Shadowing:Provisioning:ContainerApps</c>, signed in with DefaultAzureCredential). A
    /// provisioner registered before is kept.
    /// </summary>
    /// <exception cref="InvalidOperationException">An unknown kind, or a Dapr provisioner without an app id; the message names the key.</exception>
    public static IServiceCollection AddShadowingProvisioner(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddSingleton(new SettingsSection(KindKey, typeof(string)));
        services.AddSingleton(new SettingsSection(DaprProvisionerOptions.Section, typeof(DaprProvisionerOptions)));
        services.AddSingleton(new SettingsSection(ContainerAppsProvisionerOptions.Section, typeof(ContainerAppsProvisionerOptions)));
        // The local provisioner's settings too, whichever kind is chosen: dapr.yaml gives them, and choosing another kind
        // must not make them a spelling failure.
        services.AddSingleton(new SettingsSection(LocalProvisionerOptions.Section, typeof(LocalProvisionerOptions)));
        var kind = configuration[KindKey];
        if (string.IsNullOrEmpty(kind) || kind.Equals("Local", StringComparison.OrdinalIgnoreCase))
        {
            return services.AddLocalProcessProvisioner(configuration);
        }

        if (kind.Equals("Dapr", StringComparison.OrdinalIgnoreCase))
        {
            var options = configuration.GetSection(DaprProvisionerOptions.Section).Get<DaprProvisionerOptions>() ?? new DaprProvisionerOptions();
            if (string.IsNullOrWhiteSpace(options.AppId))
            {
                throw new InvalidOperationException($"{KindKey} is Dapr but {DaprProvisionerOptions.Section}:AppId is not set: name the Dapr app id of your provisioner.");
            }

            if (options.Timeout <= TimeSpan.Zero)
            {
                throw new InvalidOperationException($"{DaprProvisionerOptions.Section}:Timeout is {options.Timeout}; use a positive time span such as 00:10:00.");
            }

            services.TryAddSingleton<IShadowProvisioner>(_ =>
            {
                var http = global::Shadowing.Dapr.DaprSidecarClient.CreateInvokeClient(options.AppId, configuration);
                http.Timeout = options.Timeout;
                return new DaprInvokedProvisioner(http, options.AppId);
            });
            return services;
        }

        if (kind.Equals("ContainerApps", StringComparison.OrdinalIgnoreCase))
        {
            var options = configuration.GetSection(ContainerAppsProvisionerOptions.Section).Get<ContainerAppsProvisionerOptions>() ?? new ContainerAppsProvisionerOptions();
            if (ContainerAppsProvisioner.Problem(options) is { } problem)
            {
                throw new InvalidOperationException(problem);
            }

            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton<IShadowProvisioner>(sp => new ContainerAppsProvisioner(
                options,
                new global::Azure.Identity.DefaultAzureCredential(new global::Azure.Identity.DefaultAzureCredentialOptions { ManagedIdentityClientId = options.ManagedIdentityClientId }),
                sp.GetRequiredService<TimeProvider>()));
            return services;
        }

        throw new InvalidOperationException($"{KindKey} is '{kind}'; use Local, Dapr or ContainerApps.");
    }
}
