using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Control;
using Shadowing.Control.Workflows;
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
        var workflows = WorkflowsAddress(configuration); // checked now: a bad one would fail every control API call instead
        services.TryAddSingleton<IWorkflowControl>(_ => new InvokedWorkflowControl(WorkflowsClient(configuration, workflows)));
        services.AddShadowingControl();
        var window = configuration["ValidateShadowsWindow"];
        services.TryAddSingleton(new ValidateShadowsOptions(string.IsNullOrEmpty(window) ? TimeSpan.FromMinutes(10)
            : global::Shadowing.Core.Configuration.Durations.TryParse(window, out var parsed) && parsed > TimeSpan.Zero ? parsed
            : throw new InvalidOperationException($"ValidateShadowsWindow is '{window}'; use a positive time span such as 00:10:00 or 10m (a bare number has no unit).")));

        // The PAE's section is this app's alone (with Dapr; the embedded `up` checks it too).
        return services.CheckSettingsSpelling(configuration, "the Functions app", Shadowing.Forecasting.Pae.PaeOptions.Section);
    }

    /// <summary>
    /// How the control API reaches workflow instances: <c>WorkflowsUrl</c> when set (the workflows host's own address,
    /// for a local run without daprd), else Dapr service invocation of app id <c>workflows</c> through this app's sidecar.
    /// </summary>
    private static HttpClient WorkflowsClient(IConfiguration configuration, Uri? address) =>
        address is not null
            ? new HttpClient { BaseAddress = address }
            : global::Shadowing.Dapr.DaprSidecarClient.CreateInvokeClient(global::Shadowing.Dapr.DaprAppIds.Workflows, configuration);

    private static Uri? WorkflowsAddress(IConfiguration configuration) =>
        configuration["WorkflowsUrl"] is { Length: > 0 } url
            ? Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new InvalidOperationException($"WorkflowsUrl is '{url}'; use an http(s) URL such as http://127.0.0.1:5090.")
            : null;
}
