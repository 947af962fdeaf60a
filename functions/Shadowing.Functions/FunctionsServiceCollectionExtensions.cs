using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Core.Routing;
using Shadowing.Dapr;

namespace Shadowing.Functions;

/// <summary>Composition of the Functions app.</summary>
public static class FunctionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Dapr adapters (the app talks to its Dapr sidecar through Dapr.Client: the Functions Dapr
    /// extension is not used) and the services the functions call.
    /// </summary>
    public static IServiceCollection AddShadowingFunctions(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddShadowingDapr();
        services.TryAddSingleton<RoutingTableStore>();
        return services;
    }
}
