using System.Text.Json;

namespace Shadowing.Control.Workflows;

/// <summary>
/// Reads and steers workflow instances. Dapr serves an instance only through the sidecar of the app whose worker runs
/// it, so the workflows host (and the embedded host) use their own workflow client, while the Functions app asks the
/// workflows host through service invocation.
/// </summary>
public interface IWorkflowControl
{
    /// <summary>The instance, or null when there is none with this id.</summary>
    Task<WorkflowStatus?> GetAsync(string instanceId, CancellationToken cancellationToken);

    /// <summary>Raises event <paramref name="name"/> with <paramref name="payload"/> (null for none) on the instance.</summary>
    Task RaiseEventAsync(string instanceId, string name, JsonElement? payload, CancellationToken cancellationToken);

    /// <summary>Terminates the instance, recording <paramref name="reason"/> as its output.</summary>
    Task TerminateAsync(string instanceId, string reason, CancellationToken cancellationToken);
}
