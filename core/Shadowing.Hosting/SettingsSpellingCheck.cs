using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;

namespace Shadowing.Hosting;

/// <summary>Refuses to start a host whose configuration has keys that bind to nothing (see <see cref="SettingsSpelling"/>).</summary>
public static class SettingsSpellingCheck
{
    /// <summary>
    /// Checks every key of <paramref name="configuration"/> under <paramref name="roots"/> against the sections registered in
    /// <paramref name="services"/> so far (each <c>AddXyz</c> registers the <see cref="SettingsSection"/>s it binds): call it
    /// after them. Only a host that binds everything under a root should name it: a key there that this host ignores could
    /// be another app's setting.
    /// </summary>
    /// <exception cref="OptionsValidationException">A key binds to nothing; its failures name each one.</exception>
    public static IServiceCollection CheckSettingsSpelling(this IServiceCollection services, IConfiguration configuration, string owner, params string[] roots)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var known = services.Where(d => d.ServiceType == typeof(SettingsSection) && d.ImplementationInstance is SettingsSection).Select(d => (SettingsSection)d.ImplementationInstance!).ToArray();
        var failures = new List<string>();
        SettingsSpelling.Check(configuration.AsEnumerable().Where(e => e.Value is not null).Select(e => e.Key), roots, known, owner, failures);
        return failures.Count == 0 ? services : throw new OptionsValidationException(owner, typeof(SettingsSection), failures);
    }
}
