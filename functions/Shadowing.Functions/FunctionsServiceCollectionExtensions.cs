using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Core.Routing;
using Shadowing.Core.Validation;
using Shadowing.Functions.Validation;
using Shadowing.Hosting;
using Shadowing.Forecasting;
using Shadowing.Metrics;

namespace Shadowing.Functions;

/// <summary>Composition of the Functions app.</summary>
public static class FunctionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the adapters chosen by <c>Shadowing:Mode</c> (Dapr when unset: the app talks to its sidecar through
    /// Dapr.Client, the Functions Dapr extension is not used; Embedded for tests and local runs), the metrics source named by <c>Pae:Source</c>, the PAE,
    /// continuous validation, and the services the functions call.
    /// </summary>
    public static IServiceCollection AddShadowingFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddShadowingAdapters(configuration, whenUnset: ShadowingMode.Dapr);
        services.AddShadowingMetrics(configuration);
        services.AddShadowingPae(configuration);
        services.TryAddSingleton<RoutingTableStore>();
        services.TryAddSingleton<ShadowValidator>();
        services.TryAddSingleton<ShadowRevalidation>();
        var window = configuration["ValidateShadowsWindow"];
        services.TryAddSingleton(new ValidateShadowsOptions(string.IsNullOrEmpty(window) ? TimeSpan.FromMinutes(10)
            : TimeSpan.TryParse(window, System.Globalization.CultureInfo.InvariantCulture, out var parsed) && parsed > TimeSpan.Zero ? parsed
            : throw new InvalidOperationException($"ValidateShadowsWindow is '{window}'; use a positive time span such as 00:10:00.")));
        return services;
    }
}
