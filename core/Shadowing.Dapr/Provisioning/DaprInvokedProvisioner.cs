using System.Net;
using System.Net.Http.Json;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;

namespace Shadowing.Dapr.Provisioning;

/// <summary>Settings of the Dapr-invoked provisioner (section <c>Shadowing:Provisioning:Dapr</c>).</summary>
public sealed class DaprProvisionerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Provisioning:Dapr";

    /// <summary>The Dapr app id of the platform team's provisioner (it implements the contract in the README).</summary>
    public string AppId { get; set; } = string.Empty;

    /// <summary>How long one call may take: provisioning returns only once the shadow answers its health check.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// <see cref="IShadowProvisioner"/> over a platform team's own provisioner app, called through Dapr service
/// invocation, so shadows can live on Kubernetes, a VM pool or anything else the team runs. The contract, JSON with
/// Shadowing's field names:
/// <list type="bullet">
/// <item><c>POST provision</c> <c>{service, shadowId, resources: {size, addedLatencyMs, errorRate}}</c> → 200
/// <c>{service, shadowId, address, resources, handle?, startedAt, notes?}</c> once the shadow answers; the same
/// shadow again returns it as it runs (the call is retried: it must be idempotent).</item>
/// <item><c>POST scale</c> with the same body → 200 with the shadow as it runs after the change.</item>
/// <item><c>POST retire</c> <c>{service, shadowId}</c> → 200 or 204, also when it does not run.</item>
/// <item><c>GET shadows</c> → 200 with every shadow it runs; <c>GET shadows/{service}/{shadowId}</c> → 200, or 404.</item>
/// </list>
/// Any other answer fails the call with a <see cref="ProvisioningException"/> naming the app, method and status.
/// </summary>
public sealed class DaprInvokedProvisioner(HttpClient http, string appId) : IShadowProvisioner
{
    /// <summary>The body of <c>retire</c>.</summary>
    /// <param name="Service">The service.</param>
    /// <param name="ShadowId">The shadow.</param>
    public sealed record RetireRequest(string Service, string ShadowId);

    /// <inheritdoc />
    public Task<ProvisionedShadow> ProvisionAsync(ProvisionSpec spec, CancellationToken cancellationToken = default) =>
        PostAsync("provision", spec, cancellationToken);

    /// <inheritdoc />
    public Task<ProvisionedShadow> ResizeAsync(ProvisionSpec spec, CancellationToken cancellationToken = default) =>
        PostAsync("scale", spec, cancellationToken);

    /// <inheritdoc />
    public async Task RetireAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Post, "retire", new RetireRequest(service, shadowId), $"{service}/{shadowId}", cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, "retire", $"{service}/{shadowId}", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ProvisionedShadow?> FindAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        var what = $"{service}/{shadowId}";
        using var response = await SendAsync(HttpMethod.Get, $"shadows/{Uri.EscapeDataString(service)}/{Uri.EscapeDataString(shadowId)}", null, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        return await ReadAsync<ProvisionedShadow>(response, "shadows", what, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ProvisionedShadow>> ListAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, "shadows", null, "every shadow", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<ProvisionedShadow[]>(response, "shadows", "every shadow", cancellationToken).ConfigureAwait(false);
    }

    private async Task<ProvisionedShadow> PostAsync(string method, ProvisionSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var what = $"{spec.Service}/{spec.ShadowId}";
        using var response = await SendAsync(HttpMethod.Post, method, spec, what, cancellationToken).ConfigureAwait(false);
        var shadow = await ReadAsync<ProvisionedShadow>(response, method, what, cancellationToken).ConfigureAwait(false);
        if (shadow.Service != spec.Service || shadow.ShadowId != spec.ShadowId || string.IsNullOrWhiteSpace(shadow.Address))
        {
            throw new ProvisioningException($"Provisioner app '{appId}' answered {method} of {what} with shadow '{shadow.Service}/{shadow.ShadowId}' at '{shadow.Address}': expected the same service and shadow id, and an address.");
        }

        return shadow;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body, string what, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: ShadowingJson.Options);
        }

        try
        {
            return await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new ProvisioningException($"Provisioner app '{appId}' could not be called for {path} of {what}: {ex.Message}", ex);
        }
    }

    private async Task<T> ReadAsync<T>(HttpResponseMessage response, string method, string what, CancellationToken cancellationToken)
    {
        await EnsureAsync(response, method, what, cancellationToken).ConfigureAwait(false);
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(ShadowingJson.Options, cancellationToken).ConfigureAwait(false)
                ?? throw new ProvisioningException($"Provisioner app '{appId}' answered {method} of {what} with an empty body.");
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new ProvisioningException($"Provisioner app '{appId}' answered {method} of {what} with JSON that is not the contract's: {ex.Message}", ex);
        }
    }

    private async Task EnsureAsync(HttpResponseMessage response, string method, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new ProvisioningException($"Provisioner app '{appId}' answered {(int)response.StatusCode} {response.ReasonPhrase} to {method} of {what}: {(body.Length > 500 ? body[..500] + "…" : body)}");
        }
    }
}
