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
    /// <c>DAPR_HTTP_ENDPOINT</c>/<c>DAPR_HTTP_PORT</c>, unless a client is registered already) and the Dapr
    /// <see cref="IStateStore"/> and <see cref="IEventBus"/>, unless those ports are registered already.
    /// </summary>
    public static IServiceCollection AddShadowingDapr(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(_ => new DaprClientBuilder().Build());
        services.TryAddSingleton<IStateStore>(sp => new DaprStateStore(sp.GetRequiredService<DaprClient>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new DaprEventBus(sp.GetRequiredService<DaprClient>()));
        services.TryAddSingleton<IEventBus>(sp => sp.GetRequiredService<DaprEventBus>());
        return services;
    }
}
