using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
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
        services.AddOptions<LocalProvisionerOptions>().Bind(configuration.GetSection(LocalProvisionerOptions.Section)).ValidateOnStart();
        services.AddSingleton(new SettingsSection(LocalProvisionerOptions.Section, typeof(LocalProvisionerOptions)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LocalProvisionerOptions>, TemplatesValidator>());
        services.TryAddSingleton<LocalProcessProvisioner>();
        services.TryAddSingleton<IShadowProvisioner>(sp => sp.GetRequiredService<LocalProcessProvisioner>());
        return services;
    }

    /// <summary>Each template's command and timing, named by its setting: a blank command otherwise failed only at the first shadow, naming no key.</summary>
    private sealed class TemplatesValidator : IValidateOptions<LocalProvisionerOptions>
    {
        public ValidateOptionsResult Validate(string? name, LocalProvisionerOptions options)
        {
            var problems = new List<string>();
            foreach (var (service, template) in options.Services)
            {
                var at = $"{LocalProvisionerOptions.Section}:Services:{service}";
                if (string.IsNullOrWhiteSpace(template.Command))
                {
                    problems.Add($"{at}:Command is required: the executable that runs a copy of '{service}'.");
                }

                if (template.StartTimeout <= TimeSpan.Zero)
                {
                    problems.Add($"{at}:StartTimeout must be positive (it is {template.StartTimeout}).");
                }

                if (string.IsNullOrEmpty(template.HealthPath) || template.HealthPath[0] != '/')
                {
                    problems.Add($"{at}:HealthPath must start with '/' (it is '{template.HealthPath}').");
                }
            }

            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
