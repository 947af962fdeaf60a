using System.Text.Json;
using Dapr.Workflow;

namespace Shadowing.Control.Workflows;

/// <summary><see cref="IWorkflowControl"/> over this app's own workflow client (the workflows host, the embedded host).</summary>
public sealed class LocalWorkflowControl(IDaprWorkflowClient workflows) : IWorkflowControl
{
    /// <inheritdoc />
    public async Task<WorkflowStatus?> GetAsync(string instanceId, CancellationToken cancellationToken)
    {
        var state = await workflows.GetWorkflowStateAsync(instanceId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false);
        if (state is not { Exists: true })
        {
            return null;
        }

        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        Add(properties, WorkflowStatus.InputProperty, state.ReadInputAs<JsonElement>());
        Add(properties, WorkflowStatus.OutputProperty, state.ReadOutputAs<JsonElement>());
        Add(properties, WorkflowStatus.CustomStatusProperty, state.ReadCustomStatusAs<JsonElement>());
        if (state.FailureDetails is { } failure)
        {
            properties[WorkflowStatus.ErrorTypeProperty] = failure.ErrorType;
            properties[WorkflowStatus.ErrorMessageProperty] = failure.ErrorMessage;
        }

        return new WorkflowStatus(instanceId, state.WorkflowName ?? string.Empty, state.CreatedAt, state.LastUpdatedAt, RuntimeStatusName(state.RuntimeStatus), properties);
    }

    /// <inheritdoc />
    public Task RaiseEventAsync(string instanceId, string name, JsonElement? payload, CancellationToken cancellationToken) =>
        workflows.RaiseEventAsync(instanceId, name, payload, cancellationToken);

    /// <inheritdoc />
    public Task TerminateAsync(string instanceId, string reason, CancellationToken cancellationToken) =>
        workflows.TerminateWorkflowAsync(instanceId, reason, cancellationToken);

    /// <summary>daprd's spelling of a runtime status: <c>RUNNING</c>, <c>CONTINUED_AS_NEW</c>, …</summary>
    public static string RuntimeStatusName(WorkflowRuntimeStatus status) => status switch
    {
        WorkflowRuntimeStatus.ContinuedAsNew => "CONTINUED_AS_NEW",
        _ => status.ToString().ToUpperInvariant(),
    };

    private static void Add(Dictionary<string, string> properties, string name, JsonElement value)
    {
        if (value.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            properties[name] = value.GetRawText();
        }
    }
}
