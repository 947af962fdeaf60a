using System.Text.Json.Serialization;

namespace Shadowing.Control.Workflows;

/// <summary>
/// A workflow instance as daprd's <c>GET /v1.0/workflows/dapr/{instanceId}</c> shows it, field for field, so scripts
/// written against daprd read the control API the same way. <see cref="Properties"/> holds
/// <c>dapr.workflow.input</c>, <c>dapr.workflow.output</c>, <c>dapr.workflow.custom_status</c> (JSON text) and, for a
/// failed instance, <c>dapr.workflow.failure.error_type</c> and <c>dapr.workflow.failure.error_message</c>.
/// </summary>
public sealed record WorkflowStatus(
    [property: JsonPropertyName("instanceID")] string InstanceId,
    [property: JsonPropertyName("workflowName")] string WorkflowName,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("lastUpdatedAt")] DateTimeOffset LastUpdatedAt,
    [property: JsonPropertyName("runtimeStatus")] string RuntimeStatus,
    [property: JsonPropertyName("properties")] IReadOnlyDictionary<string, string> Properties)
{
    /// <summary>Property names daprd uses.</summary>
    public const string InputProperty = "dapr.workflow.input";

    /// <inheritdoc cref="InputProperty"/>
    public const string OutputProperty = "dapr.workflow.output";

    /// <inheritdoc cref="InputProperty"/>
    public const string CustomStatusProperty = "dapr.workflow.custom_status";

    /// <inheritdoc cref="InputProperty"/>
    public const string ErrorTypeProperty = "dapr.workflow.failure.error_type";

    /// <inheritdoc cref="InputProperty"/>
    public const string ErrorMessageProperty = "dapr.workflow.failure.error_message";

    /// <summary>Whether the instance has ended (completed, failed or terminated): events no longer reach it.</summary>
    [JsonIgnore]
    public bool HasEnded => RuntimeStatus is "COMPLETED" or "FAILED" or "TERMINATED" or "CANCELED";
}
