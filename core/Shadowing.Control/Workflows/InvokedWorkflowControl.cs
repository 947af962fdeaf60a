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
        if (response.StatusCode == HttpStatusCode.NotFound && await ProblemAsync(response, cancellationToken).ConfigureAwait(false) is { Errors: { } errors } && errors.ContainsKey("instanceId"))
        {
            return null; // the workflows host's own answer: no such instance (any other 404 is a wrong app or route, not an answer)
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
        if ((int)response.StatusCode is >= 400 and < 500 and not 401 and not 403
            && await ProblemAsync(response, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            throw new WorkflowControlRefusedException(problem); // the instance ended meanwhile, say: the caller's answer too
        }

        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new HttpRequestException(
                $"The workflows app answered {(int)response.StatusCode} {response.ReasonPhrase} {what} workflow '{instanceId}': {(body.Length > 300 ? body[..300] + "…" : body)}",
                inner: null,
                response.StatusCode);
        }
    }

    /// <summary>The workflows host's problem document (its control API's error body), or null when the answer is not one.</summary>
    private static async Task<ControlProblem?> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentType?.MediaType != ControlResult.ProblemContentType)
        {
            return null;
        }

        try
        {
            await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false); // read again for the error message
            return await response.Content.ReadFromJsonAsync<ControlProblem>(ShadowingJson.Options, cancellationToken).ConfigureAwait(false) is { Status: >= 400 and < 600 } problem ? problem : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The workflows host refused a control request (a 4xx problem document); its answer is the caller's too.</summary>
public sealed class WorkflowControlRefusedException(ControlProblem problem) : Exception(problem.Detail)
{
    /// <summary>What the workflows host answered.</summary>
    public ControlProblem Problem { get; } = problem;
}
