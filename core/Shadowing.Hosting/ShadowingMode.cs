using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Core.Configuration;
using Shadowing.Core.Serialization;
using Shadowing.Dapr;
using Shadowing.Embedded;
using Shadowing.Embedded.Workflows;

namespace Shadowing.Hosting;

/// <summary>Which adapters back the state store and event bus (<c>Shadowing:Mode</c>).</summary>
public enum ShadowingMode
{
    /// <summary>Dapr when a sidecar is configured (<c>DAPR_GRPC_PORT</c> or <c>DAPR_GRPC_ENDPOINT</c> set), else embedded.</summary>
    Auto,

    /// <summary>SQLite state store and in-process pub/sub.</summary>
    Embedded,

    /// <summary>Dapr state store and pub/sub through the sidecar.</summary>
    Dapr,
}

/// <summary>Chooses and registers the adapters: the router, the workflows host and the Functions app all call this.</summary>
public static class ShadowingModeExtensions
{
    /// <summary>The configuration key.</summary>
    public const string Key = "Shadowing:Mode";

    /// <summary>Resolves <see cref="ShadowingMode.Auto"/> against the environment.</summary>
    /// <exception cref="InvalidOperationException">The configured value is not a mode.</exception>
    /// <param name="configuration">Where <c>Shadowing:Mode</c> is read.</param>
    /// <param name="whenUnset">The mode when the key is not set (the Functions app, which only makes sense with Dapr, says Dapr).</param>
    public static ShadowingMode Resolve(IConfiguration configuration, ShadowingMode whenUnset = ShadowingMode.Auto)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[Key];
        if (!Enum.TryParse<ShadowingMode>(string.IsNullOrEmpty(text) ? whenUnset.ToString() : text, ignoreCase: true, out var mode) || !Enum.IsDefined(mode))
        {
            throw new InvalidOperationException($"{Key} is '{text}'; use Auto, Embedded or Dapr.");
        }

        if (mode != ShadowingMode.Auto)
        {
            return mode;
        }

        return string.IsNullOrEmpty(configuration["DAPR_GRPC_PORT"]) && string.IsNullOrEmpty(configuration["DAPR_GRPC_ENDPOINT"])
            ? ShadowingMode.Embedded
            : ShadowingMode.Dapr;
    }

    /// <summary>Registers the Dapr or embedded adapters as <see cref="Resolve"/> says.</summary>
    public static ShadowingMode AddShadowingAdapters(this IServiceCollection services, IConfiguration configuration, ShadowingMode whenUnset = ShadowingMode.Auto)
    {
        var mode = Resolve(configuration, whenUnset);
        services.AddSingleton(new SettingsSection(Key, typeof(ShadowingMode)));
        if (mode == ShadowingMode.Dapr)
        {
            services.AddShadowingDapr();
        }
        else
        {
            services.AddShadowingEmbedded();
        }

        return mode;
    }

    /// <summary>
    /// Registers the workflow runtime for <paramref name="mode"/>: the Dapr.Workflow worker and client on daprd, or the same
    /// worker and client on the embedded durable backend; <paramref name="register"/> registers workflows and activities.
    /// </summary>
    public static IServiceCollection AddShadowingWorkflowRuntime(this IServiceCollection services, IConfiguration configuration, ShadowingMode mode, Action<WorkflowRuntimeOptions> register)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (mode == ShadowingMode.Dapr)
        {
            // Enums as names in inputs, outputs and custom status (what `GET /v1.0/workflows/dapr/{id}` shows), as embedded.
            services.AddDaprWorkflow(register).WithJsonSerializer(ShadowingJson.Options);

            // Dapr.Workflow registers only the sealed DaprWorkflowClient; the intake, the reconciler, the verdict relay and
            // the control API take the interface (the embedded backend registers it the same way).
            services.TryAddSingleton<IDaprWorkflowClient>(sp => sp.GetRequiredService<DaprWorkflowClient>());
        }
        else
        {
            services.AddEmbeddedDaprWorkflows(configuration, register);
        }

        return services;
    }
}
