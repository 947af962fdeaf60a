using Dapr.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Dapr.Messaging;
using Shadowing.Dapr.State;

namespace Shadowing.Dapr;

/// <summary>Composition of the Dapr adapters.</summary>
public static class DaprServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="DaprClient"/> (sidecar from <c>DAPR_GRPC_ENDPOINT</c>/<c>DAPR_GRPC_PORT</c> and
    /// <c>DAPR_HTTP_ENDPOINT</c>/<c>DAPR_HTTP_PORT</c>, with <see cref="DaprSidecarClient"/>'s call deadline and connection
    /// pings, unless a client is registered already) and the Dapr
    /// <see cref="IStateStore"/> and <see cref="IEventBus"/>, unless those ports are registered already.
    /// </summary>
    public static IServiceCollection AddShadowingDapr(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => DaprSidecarClient.Build(new DaprClientBuilder(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IStateStore>(sp => new DaprStateStore(sp.GetRequiredService<DaprClient>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new DaprEventBus(sp.GetRequiredService<DaprClient>()));
        services.TryAddSingleton<IEventBus>(sp => sp.GetRequiredService<DaprEventBus>());
        return services;
    }

    /// <summary>
    /// Registers the change feed of <paramref name="dataServices"/>' production data as Dapr delivers it
    /// (<see cref="OutboxChangeFeed"/>, kept in the registered <see cref="IStateStore"/>) and the subscription appending to
    /// it; the app must also serve <see cref="DaprSubscriptions.DataChanges"/> for each service on <c>/dapr/subscribe</c>.
    /// </summary>
    public static IServiceCollection AddShadowingOutboxChangeFeed(this IServiceCollection services, IEnumerable<string> dataServices)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(dataServices);
        var names = dataServices.ToArray();
        services.TryAddSingleton(sp => new OutboxChangeFeed(
            sp.GetRequiredService<IStateStore>(),
            names,
            log: new DaprStateStore(sp.GetRequiredService<DaprClient>(), sp.GetRequiredService<TimeProvider>(), listed: false)));
        services.TryAddSingleton<Core.Data.IChangeFeed>(sp => sp.GetRequiredService<OutboxChangeFeed>());
        services.TryAddSingleton<Core.Data.IProductionData>(sp => new DaprProductionData(sp.GetRequiredService<DaprClient>(), sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<OutboxChangeSubscription>();
        return services;
    }
}
