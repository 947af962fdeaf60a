using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Shadowing.Core.Shadows;

namespace Shadowing.ContainerApps;

/// <summary>Client options for the ARM calls (retries, transport).</summary>
public sealed class ContainerAppsClientOptions : ClientOptions;

/// <summary>
/// <see cref="IShadowProvisioner"/> on Azure Container Apps, over the ARM REST API (<c>Microsoft.App/containerApps</c>,
/// <see cref="ContainerAppsProvisionerOptions.ApiVersion"/>) on an Azure.Core pipeline with a bearer token for
/// <c>{ResourceManager}/.default</c>. Provisioning reads the production app, PUTs a shadow app built by
/// <see cref="ShadowAppTemplate"/>, follows the long-running operation (<c>Azure-AsyncOperation</c>, else the app's
/// <c>provisioningState</c>) and waits until the shadow's latest revision runs; retiring DELETEs the app and waits until
/// it is gone. Every call is idempotent: a shadow app that exists at the size asked for is returned as it is.
/// </summary>
public sealed class ContainerAppsProvisioner : IShadowProvisioner
{
    private readonly ContainerAppsProvisionerOptions _options;
    private readonly HttpPipeline _pipeline;
    private readonly TimeProvider _time;

    /// <summary>Creates the provisioner.</summary>
    public ContainerAppsProvisioner(ContainerAppsProvisionerOptions options, TokenCredential credential, TimeProvider time, ContainerAppsClientOptions? clientOptions = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        ArgumentNullException.ThrowIfNull(credential);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _pipeline = HttpPipelineBuilder.Build(clientOptions ?? new ContainerAppsClientOptions(), new BearerTokenAuthenticationPolicy(credential, new Uri(options.ResourceManager, "/.default").ToString()));
    }

    /// <summary>What is wrong with <paramref name="options"/> (naming the setting), or null.</summary>
    public static string? Problem(ContainerAppsProvisionerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = ContainerAppsProvisionerOptions.Section;
        if (string.IsNullOrWhiteSpace(options.SubscriptionId))
        {
            return $"{S}:SubscriptionId is not set.";
        }

        if (string.IsNullOrWhiteSpace(options.ResourceGroup))
        {
            return $"{S}:ResourceGroup is not set.";
        }

        if (options.PollInterval <= TimeSpan.Zero || options.Timeout <= TimeSpan.Zero) // a zero poll would ask ARM in a tight loop
        {
            return $"{S}:PollInterval and {S}:Timeout must be positive time spans.";
        }

        foreach (var (service, settings) in options.Services)
        {
            if (string.IsNullOrWhiteSpace(settings.ProductionApp))
            {
                return $"{S}:Services:{service}:ProductionApp is not set: name the production container app to copy.";
            }

            if (settings.MaxCpu < 0.25 || settings.MinReplicas < 1 || settings.MaxReplicas is < 1)
            {
                return $"{S}:Services:{service}: MaxCpu must be at least 0.25, MinReplicas at least 1 (a shadow is kept warm) and MaxReplicas at least 1.";
            }

            if (settings.Identity is { Length: > 0 } identity && !identity.StartsWith('/'))
            {
                // It goes under the app's userAssignedIdentities, where Azure takes nothing but a resource id.
                return $"{S}:Services:{service}:Identity must be a user-assigned identity's resource id (/subscriptions/…/userAssignedIdentities/…), not '{identity}'.";
            }

            if (settings.Environment.Keys.FirstOrDefault(settings.Secrets.ContainsKey) is { } both)
            {
                return $"{S}:Services:{service}: '{both}' is set under both Environment and Secrets; a container takes one value per variable.";
            }

            foreach (var (variable, secret) in settings.Secrets)
            {
                if (!Uri.TryCreate(secret.KeyVaultUrl, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps)
                {
                    return $"{S}:Services:{service}:Secrets:{variable}:KeyVaultUrl must be the secret's https URL in Key Vault (for example https://shadow-kv.vault.azure.net/secrets/orders-db).";
                }

                if (ShadowAppTemplate.ReaderOf(secret, settings) is not { } reader)
                {
                    // Azure reads a Key Vault reference with a managed identity of the app while it creates the app.
                    return $"{S}:Services:{service}:Secrets:{variable}:Identity is not set, nor {S}:Services:{service}:Identity: name the user-assigned identity (its resource id) that reads it.";
                }

                if (!reader.StartsWith('/'))
                {
                    // Not 'system' either: a shadow is a new app, whose system-assigned identity exists only once Azure has
                    // created it, and Azure reads the secret while creating it, before anyone could grant it the vault.
                    return $"{S}:Services:{service}:Secrets:{variable}:Identity (or the service's Identity) must be a user-assigned identity's resource id (/subscriptions/…/userAssignedIdentities/…), not '{reader}': a new app's system-assigned identity cannot have been granted the vault before Azure reads the secret.";
                }
            }
        }

        return null;
    }

    /// <inheritdoc />
    public Task<ProvisionedShadow> ProvisionAsync(ProvisionSpec spec, CancellationToken cancellationToken = default) =>
        PutAsync(spec, onlyIfChanged: true, cancellationToken);

    /// <inheritdoc />
    public Task<ProvisionedShadow> ResizeAsync(ProvisionSpec spec, CancellationToken cancellationToken = default) =>
        PutAsync(spec, onlyIfChanged: false, cancellationToken);

    /// <inheritdoc />
    public async Task RetireAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        var deadline = _time.GetUtcNow() + _options.Timeout;
        var name = _options.Services.TryGetValue(service, out var settings) && !string.IsNullOrWhiteSpace(settings.ProductionApp)
            ? ShadowAppTemplate.AppName(settings.ProductionApp, shadowId)
            : null;
        var app = name is null ? null : await GetAppAsync(name, cancellationToken).ConfigureAwait(false);
        if (app is null || name is null)
        {
            // Not under the name the settings give now: one made under an earlier ProductionApp, or of a service since taken
            // out of the settings, is found by its tags; none means gone already (the activity ran again).
            (name, app) = await FindTaggedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
            if (app is null || name is null)
            {
                return;
            }
        }

        var what = $"deleting shadow app {name} ({service}/{shadowId})";
        EnsureIsShadow(app, service, shadowId, name);
        using var message = await SendAsync(RequestMethod.Delete, AppUri(name), null, what, deadline, cancellationToken, allow404: true).ConfigureAwait(false);
        if (message.Response.Status == 202)
        {
            await FollowOperationAsync(message.Response, AppUri(name), what, deleting: true, deadline, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<ProvisionedShadow?> FindAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        var name = ShadowAppTemplate.AppName(Settings(service).ProductionApp, shadowId);
        var app = await GetAppAsync(name, cancellationToken).ConfigureAwait(false);
        if (app is null)
        {
            return null;
        }

        EnsureIsShadow(app, service, shadowId, name);
        return ToShadow(app, []);
    }

    /// <summary>
    /// Refuses an app under a shadow's name that is not that shadow (another app of the resource group, or another
    /// shadow): the provisioner only ever changes or deletes what it created, which its tags say.
    /// </summary>
    private static void EnsureIsShadow(JsonObject app, string service, string shadowId, string name)
    {
        var tags = app["tags"];
        var taggedService = tags?[ShadowAppTemplate.ServiceTag]?.GetValue<string>();
        var taggedShadow = tags?[ShadowAppTemplate.ShadowTag]?.GetValue<string>();
        if (!string.Equals(taggedService, service, StringComparison.OrdinalIgnoreCase) || !string.Equals(taggedShadow, shadowId, StringComparison.Ordinal))
        {
            throw new ProvisioningException(taggedShadow is null
                ? $"Container app {name} exists and is not a shadow (no {ShadowAppTemplate.ShadowTag} tag): shadow {service}/{shadowId} would take its name, so it is left alone. Rename or remove that app."
                : $"Container app {name} is shadow {taggedService}/{taggedShadow}, not {service}/{shadowId}: it is left alone.");
        }
    }

    /// <inheritdoc />
    /// <remarks>An app that has no address yet (being created) is listed with an empty one: the sweep needs to see it.</remarks>
    public async Task<IReadOnlyList<ProvisionedShadow>> ListAsync(CancellationToken cancellationToken = default) =>
        [.. (await ListShadowAppsAsync(cancellationToken).ConfigureAwait(false)).Select(app => ToShadow(app, [], addressRequired: false))];

    /// <summary>The resource group's apps tagged as shadows, every page.</summary>
    private async Task<List<JsonObject>> ListShadowAppsAsync(CancellationToken cancellationToken)
    {
        var apps = new List<JsonObject>();
        Uri? next = new(_options.ResourceManager, $"/subscriptions/{_options.SubscriptionId}/resourceGroups/{_options.ResourceGroup}/providers/Microsoft.App/containerApps?api-version={_options.ApiVersion}");
        while (next is not null)
        {
            using var message = await SendAsync(RequestMethod.Get, next, null, "listing container apps", cancellationToken).ConfigureAwait(false);
            var page = Parse(message.Response, "listing container apps");
            apps.AddRange((page["value"]?.AsArray().OfType<JsonObject>() ?? []).Where(app => app["tags"]?[ShadowAppTemplate.ServiceTag] is not null));
            next = page["nextLink"]?.GetValue<string>() is { Length: > 0 } link ? new Uri(link) : null;
        }

        return apps;
    }

    /// <summary>The app whose tags name shadow <paramref name="shadowId"/> of <paramref name="service"/>, with its name, or nulls.</summary>
    private async Task<(string? Name, JsonObject? App)> FindTaggedAsync(string service, string shadowId, CancellationToken cancellationToken)
    {
        var app = (await ListShadowAppsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(a =>
            string.Equals(a["tags"]?[ShadowAppTemplate.ServiceTag]?.GetValue<string>(), service, StringComparison.OrdinalIgnoreCase)
            && string.Equals(a["tags"]?[ShadowAppTemplate.ShadowTag]?.GetValue<string>(), shadowId, StringComparison.Ordinal));
        return (app?["name"]?.GetValue<string>(), app);
    }

    private async Task<ProvisionedShadow> PutAsync(ProvisionSpec spec, bool onlyIfChanged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var deadline = _time.GetUtcNow() + _options.Timeout; // one budget for the whole call, however many waits it takes
        var settings = Settings(spec.Service);
        var name = ShadowAppTemplate.AppName(settings.ProductionApp, spec.ShadowId);
        var what = $"shadow app {name} ({spec.Service}/{spec.ShadowId})";
        if (await GetAppAsync(name, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            EnsureIsShadow(existing, spec.Service, spec.ShadowId, name);
            if (onlyIfChanged
                && existing["tags"]?[ShadowAppTemplate.SizeTag]?.GetValue<string>() == spec.Resources.Size.ToString(CultureInfo.InvariantCulture)
                && !Is(existing["properties"]?["provisioningState"]?.GetValue<string>(), "Failed")
                && !Is(existing["properties"]?["provisioningState"]?.GetValue<string>(), "Canceled"))
            {
                // Provisioned before (the activity ran again; a Failed one is PUT again): nothing is put, and the notes are the
                // template's for production as it is, so a rerun returns what the first run did (the status lists them).
                var again = await GetAppAsync(settings.ProductionApp, cancellationToken).ConfigureAwait(false) is { } source
                    ? ShadowAppTemplate.Build(source, spec, settings, _time.GetUtcNow()).Notes
                    : [];
                return await RunningAsync(name, again, what, deadline, cancellationToken).ConfigureAwait(false);
            }
        }

        var production = await GetAppAsync(settings.ProductionApp, cancellationToken).ConfigureAwait(false)
            ?? throw new ProvisioningException($"Production app '{settings.ProductionApp}' of service '{spec.Service}' does not exist in resource group '{_options.ResourceGroup}'.");
        var (body, notes) = ShadowAppTemplate.Build(production, spec, settings, _time.GetUtcNow());
        using var put = await SendAsync(RequestMethod.Put, AppUri(name), body, $"creating {what}", deadline, cancellationToken).ConfigureAwait(false);
        await FollowOperationAsync(put.Response, AppUri(name), $"creating {what}", deleting: false, deadline, cancellationToken).ConfigureAwait(false);
        return await RunningAsync(name, notes, what, deadline, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until the app's latest revision runs (and is not unhealthy), then returns the shadow.</summary>
    private async Task<ProvisionedShadow> RunningAsync(string name, IReadOnlyList<string> notes, string what, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            var app = await GetAppAsync(name, cancellationToken).ConfigureAwait(false) ?? throw new ProvisioningException($"{what} disappeared while it was being started.");
            var properties = app["properties"];
            var state = properties?["provisioningState"]?.GetValue<string>();
            if (Is(state, "Failed") || Is(state, "Canceled"))
            {
                throw new ProvisioningException($"{what}: Azure reports provisioningState {state}.");
            }

            if (properties?["latestRevisionName"]?.GetValue<string>() is { Length: > 0 } revisionName && (state is null || Is(state, "Succeeded")))
            {
                using var message = await SendAsync(RequestMethod.Get, new Uri(_options.ResourceManager, $"{AppPath(name)}/revisions/{revisionName}?api-version={_options.ApiVersion}"), null, $"reading revision {revisionName} of {what}", cancellationToken).ConfigureAwait(false);
                var revision = Parse(message.Response, $"revision {revisionName}")["properties"];
                var running = revision?["runningState"]?.GetValue<string>();
                var health = revision?["healthState"]?.GetValue<string>();
                if (Is(running, "Failed") || Is(running, "Stopped") || Is(revision?["provisioningState"]?.GetValue<string>(), "Failed"))
                {
                    throw new ProvisioningException($"{what}: revision {revisionName} is {running ?? revision?["provisioningState"]?.GetValue<string>()}{(revision?["provisioningError"]?.GetValue<string>() is { Length: > 0 } error ? ": " + error : string.Empty)}.");
                }

                // Running (or RunningAtMaxScale, which live revisions report) and not Unhealthy.
                if (running is not null && running.StartsWith("Running", StringComparison.OrdinalIgnoreCase) && !Is(health, "Unhealthy"))
                {
                    return ToShadow(app, notes);
                }
            }

            await WaitAsync(null, deadline, $"{what} to run", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Follows a long-running operation: the <c>Azure-AsyncOperation</c> URL until its status is final, else the
    /// <c>Location</c> URL until it stops answering 202, else the app itself (gone, for a delete; a final
    /// provisioningState otherwise).
    /// </summary>
    private async Task FollowOperationAsync(Response started, Uri app, string what, bool deleting, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var retryAfter = RetryAfter(started);
        if (started.Headers.TryGetValue("Azure-AsyncOperation", out var operation) && Uri.TryCreate(operation, UriKind.Absolute, out var operationUri))
        {
            while (true)
            {
                await WaitAsync(retryAfter, deadline, what, cancellationToken).ConfigureAwait(false);
                using var poll = await SendAsync(RequestMethod.Get, operationUri, null, $"{what} (operation status)", cancellationToken).ConfigureAwait(false);
                var status = Parse(poll.Response, what);
                var value = status["status"]?.GetValue<string>();
                if (Is(value, "Succeeded"))
                {
                    return;
                }

                if (Is(value, "Failed") || Is(value, "Canceled"))
                {
                    throw new ProvisioningException($"{what}: the operation ended {value}: {status["error"]?["code"]} {status["error"]?["message"]}".TrimEnd());
                }

                retryAfter = RetryAfter(poll.Response);
            }
        }

        if (started.Headers.TryGetValue("Location", out var location) && Uri.TryCreate(location, UriKind.Absolute, out var locationUri))
        {
            while (true)
            {
                await WaitAsync(retryAfter, deadline, what, cancellationToken).ConfigureAwait(false);
                using var poll = await SendAsync(RequestMethod.Get, locationUri, null, $"{what} (operation result)", cancellationToken, allow404: deleting).ConfigureAwait(false);
                if (poll.Response.Status != 202)
                {
                    return;
                }

                retryAfter = RetryAfter(poll.Response);
            }
        }

        // No operation URL: watch the app.
        while (true)
        {
            using var message = await SendAsync(RequestMethod.Get, app, null, what, cancellationToken, allow404: true).ConfigureAwait(false);
            if (message.Response.Status == 404)
            {
                if (deleting)
                {
                    return;
                }

                throw new ProvisioningException($"{what}: the app is not there after it was created.");
            }

            var state = Parse(message.Response, what)["properties"]?["provisioningState"]?.GetValue<string>();
            if (!deleting && (state is null || Is(state, "Succeeded") || Is(state, "Failed") || Is(state, "Canceled")))
            {
                return; // RunningAsync reports a Failed or Canceled state
            }

            await WaitAsync(null, deadline, what, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<JsonObject?> GetAppAsync(string name, CancellationToken cancellationToken)
    {
        using var message = await SendAsync(RequestMethod.Get, AppUri(name), null, $"reading container app {name}", cancellationToken, allow404: true).ConfigureAwait(false);
        return message.Response.Status == 404 ? null : Parse(message.Response, $"container app {name}");
    }

    /// <summary>
    /// Sends a write (PUT, DELETE), again while Azure answers 409 because the app is busy: Container Apps refuses a write
    /// while another operation on the app is still running (a resize while the creation's revision is being provisioned, a
    /// retire during a resize), and Azure.Core's retry policy does not retry 409. Gives up at <paramref name="deadline"/>
    /// with Azure's error.
    /// </summary>
    private async Task<HttpMessage> SendAsync(RequestMethod method, Uri uri, JsonObject? body, string what, DateTimeOffset deadline, CancellationToken cancellationToken, bool allow404 = false)
    {
        while (true)
        {
            var message = await SendAsync(method, uri, body, what, cancellationToken, allow404, allow409: true).ConfigureAwait(false);
            if (message.Response.Status != 409)
            {
                return message;
            }

            var (code, error) = (ErrorCode(message.Response), Error(message.Response));
            var retryAfter = RetryAfter(message.Response);
            message.Dispose();

            // ContainerAppOperationInProgress, ManagedEnvironmentOperationInProgress, ContainerAppLockConflict: the app
            // (or its environment) is busy and the same write will go through later. Any other conflict is final.
            var busy = code is not null && (code.EndsWith("OperationInProgress", StringComparison.OrdinalIgnoreCase) || code.EndsWith("LockConflict", StringComparison.OrdinalIgnoreCase));
            if (!busy)
            {
                throw new ProvisioningException($"{what}: Azure answered 409 {error}");
            }

            if (_time.GetUtcNow() >= deadline)
            {
                throw new ProvisioningException($"{what}: Azure still answered 409 {error} after {_options.Timeout} ({ContainerAppsProvisionerOptions.Section}:Timeout).");
            }

            var remaining = deadline - _time.GetUtcNow();
            var wait = retryAfter ?? _options.PollInterval;
            await Task.Delay(wait < remaining ? wait : remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<HttpMessage> SendAsync(RequestMethod method, Uri uri, JsonObject? body, string what, CancellationToken cancellationToken, bool allow404 = false, bool allow409 = false)
    {
        var message = _pipeline.CreateMessage();
        try
        {
            message.Request.Method = method;
            message.Request.Uri.Reset(uri);
            if (body is not null)
            {
                message.Request.Headers.Add("Content-Type", "application/json");
                message.Request.Content = RequestContent.Create(BinaryData.FromString(body.ToJsonString()));
            }

            await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
            if (message.Response.IsError && !(allow404 && message.Response.Status == 404) && !(allow409 && message.Response.Status == 409))
            {
                throw new ProvisioningException($"{what}: Azure answered {message.Response.Status} {Error(message.Response)}");
            }

            return message;
        }
        catch (Exception ex) when (ex is RequestFailedException or global::Azure.Identity.AuthenticationFailedException)
        {
            message.Dispose();
            throw new ProvisioningException($"{what}: {ex.Message}", ex);
        }
        catch
        {
            message.Dispose();
            throw;
        }
    }

    private async Task WaitAsync(TimeSpan? retryAfter, DateTimeOffset deadline, string what, CancellationToken cancellationToken)
    {
        if (_time.GetUtcNow() >= deadline)
        {
            throw new ProvisioningException($"Timed out after {_options.Timeout} waiting for {what} ({ContainerAppsProvisionerOptions.Section}:Timeout).");
        }

        await Task.Delay(retryAfter ?? _options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
    }

    private ProvisionedShadow ToShadow(JsonObject app, IReadOnlyList<string> notes, bool addressRequired = true)
    {
        var tags = app["tags"];
        var properties = app["properties"];
        var configuration = properties?["configuration"];
        var name = app["name"]?.GetValue<string>() ?? "?";
        var address = configuration?["dapr"]?["enabled"]?.GetValueKind() == JsonValueKind.True
            ? $"dapr://{configuration["dapr"]?["appId"]?.GetValue<string>() ?? name}"
            : configuration?["ingress"]?["fqdn"]?.GetValue<string>() is { Length: > 0 } fqdn ? $"https://{fqdn}"
            : addressRequired ? throw new ProvisioningException($"Shadow app {name} has neither a Dapr app id nor an ingress address yet.")
            : string.Empty;
        return new ProvisionedShadow
        {
            Service = tags?[ShadowAppTemplate.ServiceTag]?.GetValue<string>() ?? string.Empty,
            ShadowId = tags?[ShadowAppTemplate.ShadowTag]?.GetValue<string>() ?? name,
            Address = address,
            Resources = new ShadowResources(Size: int.TryParse(tags?[ShadowAppTemplate.SizeTag]?.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var size) ? size : 1),
            Handle = properties?["latestRevisionName"]?.GetValue<string>(),
            StartedAt = DateTimeOffset.TryParse(tags?[ShadowAppTemplate.StartedAtTag]?.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : DateTimeOffset.UnixEpoch,
            Notes = notes,
        };
    }

    private ContainerAppsServiceOptions Settings(string service) =>
        _options.Services.TryGetValue(service, out var settings)
            ? settings
            : throw new ProvisioningException($"Service '{service}' has no Container Apps settings ({ContainerAppsProvisionerOptions.Section}:Services:{service}:ProductionApp).");

    private string AppPath(string name) => $"/subscriptions/{_options.SubscriptionId}/resourceGroups/{_options.ResourceGroup}/providers/Microsoft.App/containerApps/{name}";

    private Uri AppUri(string name) => new(_options.ResourceManager, $"{AppPath(name)}?api-version={_options.ApiVersion}");

    private static JsonObject Parse(Response response, string what)
    {
        try
        {
            return JsonNode.Parse(response.Content.ToString()) as JsonObject ?? throw new ProvisioningException($"{what}: Azure's answer is not a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new ProvisioningException($"{what}: Azure's answer is not JSON: {ex.Message}", ex);
        }
    }

    private static string Error(Response response)
    {
        try
        {
            var error = JsonNode.Parse(response.Content.ToString())?["error"];
            return error is JsonObject ? $"{error["code"]}: {error["message"]}" : error?.ToJsonString() ?? response.ReasonPhrase;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return response.ReasonPhrase;
        }
    }

    private static string? ErrorCode(Response response)
    {
        try
        {
            return JsonNode.Parse(response.Content.ToString())?["error"]?["code"]?.GetValue<string>();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static TimeSpan? RetryAfter(Response response) =>
        response.Headers.TryGetValue("Retry-After", out var value) && int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : null;

    private static bool Is(string? value, string expected) => string.Equals(value, expected, StringComparison.OrdinalIgnoreCase);
}
