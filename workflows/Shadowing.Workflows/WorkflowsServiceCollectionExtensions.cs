using Dapr.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Dapr;

namespace Shadowing.Workflows;

/// <summary>Composition of the workflow host.</summary>
public static class WorkflowsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Dapr adapters and the Dapr workflow worker, which connects to the sidecar
    /// (<c>DAPR_GRPC_PORT</c>) and runs every workflow and activity of this assembly.
    /// </summary>
    public static IServiceCollection AddShadowingWorkflows(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddShadowingDapr();

        // Workflows and activities in this assembly are registered by Dapr.Workflow's source generator by type name.
        services.AddDaprWorkflow(_ => { });
        return services;
    }
}
