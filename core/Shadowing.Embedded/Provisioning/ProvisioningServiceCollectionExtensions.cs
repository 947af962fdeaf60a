using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Core.Shadows;

namespace Shadowing.Embedded.Provisioning;

/// <summary>Composition of the local-process provisioner.</summary>
public static class ProvisioningServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="LocalProcessProvisioner"/> as the <see cref="IShadowProvisioner"/>, bound to
    /// <see cref="LocalProvisionerOptions.Section"/>. The shadows it started stop when the container is disposed (the host
    /// shuts down).
    /// </summary>
    public static IServiceCollection AddLocalProcessProvisioner(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<LocalProvisionerOptions>().Bind(configuration.GetSection(LocalProvisionerOptions.Section));
        services.TryAddSingleton<LocalProcessProvisioner>();
        services.TryAddSingleton<IShadowProvisioner>(sp => sp.GetRequiredService<LocalProcessProvisioner>());
        return services;
    }
}
