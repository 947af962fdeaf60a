using Dapr.DurableTask.Protobuf;
using Dapr.Workflow;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.Serialization;

namespace Shadowing.Embedded.Workflows;

/// <summary>Composition of the embedded workflow backend.</summary>
public static class EmbeddedWorkflowsServiceCollectionExtensions
{
    /// <summary>
    /// Runs workflows without daprd: the embedded durable-task backend (bound to
    /// <see cref="EmbeddedWorkflowOptions.Section"/>; its file beside <c>Shadowing:Embedded:StatePath</c> unless set)
    /// and the real Dapr.Workflow worker and <see cref="DaprWorkflowClient"/> pointed at it. <paramref name="configure"/>
    /// registers workflows and activities as for <c>AddDaprWorkflow</c> (the Dapr.Workflow source generator already
    /// registers those of the app's assembly). On daprd, call <c>AddDaprWorkflow</c> instead: nothing of this is loaded.
    /// </summary>
    public static IServiceCollection AddEmbeddedDaprWorkflows(this IServiceCollection services, IConfiguration configuration, Action<WorkflowRuntimeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<EmbeddedWorkflowOptions>()
            .Bind(configuration.GetSection(EmbeddedWorkflowOptions.Section))
            .PostConfigure(o => o.StatePath ??= BesideStateFile(configuration["Shadowing:Embedded:StatePath"]))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(new SettingsSection(EmbeddedWorkflowOptions.Section, typeof(EmbeddedWorkflowOptions)));
        services.TryAddSingleton<EmbeddedWorkflowBackend>();

        // Registered before the worker, so it is listening (StartingAsync) when the worker first connects.
        services.AddHostedService(sp => sp.GetRequiredService<EmbeddedWorkflowBackend>());
        // The product's JSON (enums as names) for inputs, outputs and custom status, as on daprd (AddShadowingWorkflowRuntime):
        // what the workflow status API shows reads "state": "PreWarmed", not a number. Earlier histories read as before.
        services.AddDaprWorkflow(configure ?? (_ => { })).WithJsonSerializer(ShadowingJson.Options);

        // The worker and client reach the sidecar through one gRPC client factory registration: point it here.
        foreach (var name in new[] { typeof(TaskHubSidecarService.TaskHubSidecarServiceClient).Name, typeof(TaskHubSidecarService.TaskHubSidecarServiceClient).FullName!, "TaskHubSidecarService.TaskHubSidecarServiceClient" })
        {
            services.AddSingleton<IPostConfigureOptions<GrpcClientFactoryOptions>>(sp => new PointAtBackend(name, sp.GetRequiredService<EmbeddedWorkflowBackend>()));
        }

        services.TryAddSingleton<IDaprWorkflowClient>(sp => sp.GetRequiredService<DaprWorkflowClient>());
        return services;
    }

    /// <summary>
    /// Beside the embedded state file, in memory when that is: <c>workflows.db</c> for the default <c>state.db</c>,
    /// <c>{name}.workflows.db</c> for any other (<c>a.db</c>: <c>a.workflows.db</c>), so two state files in one folder do not
    /// share one workflow store, where the second stack would resume the first one's workflows against its own state.
    /// </summary>
    internal static string BesideStateFile(string? statePath)
    {
        if (string.IsNullOrEmpty(statePath))
        {
            return Path.Combine(".shadowing", "workflows.db");
        }

        if (statePath == WorkflowStore.InMemory)
        {
            return WorkflowStore.InMemory;
        }

        var name = Path.GetFileNameWithoutExtension(statePath);
        return Path.Combine(Path.GetDirectoryName(statePath) ?? string.Empty, name is "state" ? "workflows.db" : $"{name}.workflows.db");
    }

    private sealed class PointAtBackend(string name, EmbeddedWorkflowBackend backend) : IPostConfigureOptions<GrpcClientFactoryOptions>
    {
        public void PostConfigure(string? optionsName, GrpcClientFactoryOptions options)
        {
            if (optionsName == name)
            {
                options.Address = backend.Address;
            }
        }
    }
}
