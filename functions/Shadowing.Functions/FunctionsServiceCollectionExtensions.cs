using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Core.Routing;
using Shadowing.Dapr;
using Shadowing.Forecasting;
using Shadowing.Metrics;

namespace Shadowing.Functions;

/// <summary>Composition of the Functions app.</summary>
public static class FunctionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Dapr adapters (the app talks to its Dapr sidecar through Dapr.Client: the Functions Dapr
    /// extension is not used), the metrics source named by <c>Pae:Source</c>, the PAE, and the services the
    /// functions call.
    /// </summary>
    public static IServiceCollection AddShadowingFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddShadowingDapr();
        services.AddShadowingMetrics(configuration);
        services.AddShadowingPae(configuration);
        services.TryAddSingleton<RoutingTableStore>();
        return services;
    }
}
