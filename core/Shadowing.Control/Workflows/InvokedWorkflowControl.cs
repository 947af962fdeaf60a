using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shadowing.Core.Serialization;

namespace Shadowing.Control.Workflows;

/// <summary>
/// <see cref="IWorkflowControl"/> for an app that does not run the workflows (the Functions app): asks the workflows
/// host's control routes through Dapr service invocation, since an instance is reachable only through the sidecar of
/// the app whose worker runs it. <paramref name="http"/> is an invoke client for that app id (its base address is
/// <c>http://workflows/</c>; see <c>DaprClient.CreateInvokeHttpClient</c>).
/// </summary>
public sealed class InvokedWorkflowControl(HttpClient http) : IWorkflowControl
{
    /// <inheritdoc />
    public async Task<WorkflowStatus?> GetAsync(string instanceId, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri(Path(instanceId), UriKind.Relative), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureAsync(response, "reading", instanceId, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<WorkflowStatus>(ShadowingJson.Options, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RaiseEventAsync(string instanceId, string name, JsonElement? payload, CancellationToken cancellationToken)
    {
        using var content = payload is { } body ? JsonContent.Create(body, options: ShadowingJson.Options) : null;
        using var response = await http.PostAsync(new Uri($"{Path(instanceId)}/events/{Uri.EscapeDataString(name)}", UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, $"raising '{name}' on", instanceId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task TerminateAsync(string instanceId, string reason, CancellationToken cancellationToken)
    {
        using var content = JsonContent.Create(new { reason }, options: ShadowingJson.Options);
        using var response = await http.PostAsync(new Uri($"{Path(instanceId)}/terminate", UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, "terminating", instanceId, cancellationToken).ConfigureAwait(false);
    }

    private static string Path(string instanceId) => "api/workflows/" + Uri.EscapeDataString(instanceId);

    private static async Task EnsureAsync(HttpResponseMessage response, string what, string instanceId, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new HttpRequestException(
                $"The workflows app answered {(int)response.StatusCode} {response.ReasonPhrase} {what} workflow '{instanceId}': {(body.Length > 300 ? body[..300] + "…" : body)}",
                inner: null,
                response.StatusCode);
        }
    }
}
