using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;

namespace Shadowing.Embedded;

/// <summary>Settings of the embedded adapters (section <c>Shadowing:Embedded</c>).</summary>
public sealed class EmbeddedOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Embedded";

    /// <summary>SQLite file of the state store, or <c>:memory:</c>. Default <c>.shadowing/state.db</c>.</summary>
    [Required]
    public string StatePath { get; set; } = ".shadowing/state.db";
}

/// <summary>Composition of the embedded adapters.</summary>
public static class EmbeddedServiceCollectionExtensions
{
    /// <summary>
    /// Registers the SQLite <see cref="IStateStore"/> and the in-process <see cref="IEventBus"/>, bound to
    /// <see cref="EmbeddedOptions.Section"/> and <c>Shadowing:Embedded:PubSub</c>, unless those ports are registered already.
    /// </summary>
    public static IServiceCollection AddShadowingEmbedded(this IServiceCollection services, Action<EmbeddedOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        var options = services.AddOptions<EmbeddedOptions>().BindConfiguration(EmbeddedOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddOptions<InProcessEventBusOptions>().BindConfiguration(EmbeddedOptions.Section + ":PubSub").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(new SettingsSection(EmbeddedOptions.Section, typeof(EmbeddedOptions)));
        services.AddSingleton(new SettingsSection(EmbeddedOptions.Section + ":PubSub", typeof(InProcessEventBusOptions)));
        services.TryAddSingleton<IStateStore>(sp => new SqliteStateStore(
            sp.GetRequiredService<IOptions<EmbeddedOptions>>().Value.StatePath,
            sp.GetRequiredService<TimeProvider>()));
        // The embedded store records production data changes itself: it is the change feed data sync reads. A store put in
        // its place that is not one (a decorator) leaves none: data sync then says so instead of copying.
        services.TryAddSingleton<Core.Data.IChangeFeed>(sp => (sp.GetRequiredService<IStateStore>() as Core.Data.IChangeFeed)!);
        services.TryAddSingleton<InProcessEventBus>();
        services.TryAddSingleton<IEventBus>(sp => sp.GetRequiredService<InProcessEventBus>());
        return services;
    }
}
