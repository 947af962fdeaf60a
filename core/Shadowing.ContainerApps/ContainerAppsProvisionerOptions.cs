namespace Shadowing.ContainerApps;

/// <summary>Settings of the Container Apps provisioner (section <c>Shadowing:Provisioning:ContainerApps</c>).</summary>
public sealed class ContainerAppsProvisionerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Provisioning:ContainerApps";

    /// <summary>Azure Resource Manager endpoint. Default the public cloud.</summary>
    public Uri ResourceManager { get; set; } = new("https://management.azure.com");

    /// <summary>The subscription of the production apps and their shadows.</summary>
    public string SubscriptionId { get; set; } = string.Empty;

    /// <summary>The resource group of the production apps; shadows are created beside them.</summary>
    public string ResourceGroup { get; set; } = string.Empty;

    /// <summary>The Microsoft.App API version the request shapes follow.</summary>
    public string ApiVersion { get; set; } = "2024-03-01";

    /// <summary>How often a long-running operation or a revision is polled when Azure names no Retry-After.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest one provision, resize or retire call takes, from its first request: waiting out another operation on
    /// the app (409), the operation itself, and the shadow's revision starting to run.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Client id of the user-assigned managed identity the provisioner signs in with (default: DefaultAzureCredential's choice).</summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary>Per service: which production app to copy and the shadow's own settings.</summary>
    public Dictionary<string, ContainerAppsServiceOptions> Services { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>How one service's shadows are made (<c>Shadowing:Provisioning:ContainerApps:Services:{service}</c>).</summary>
public sealed class ContainerAppsServiceOptions
{
    /// <summary>The production container app whose template (image, resources, scale) shadows copy.</summary>
    public string ProductionApp { get; set; } = string.Empty;

    /// <summary>Replicas a shadow keeps running at least (at least 1: a shadow is kept warm).</summary>
    public int MinReplicas { get; set; } = 1;

    /// <summary>Replicas a shadow may scale to; default the production app's maximum.</summary>
    public int? MaxReplicas { get; set; }

    /// <summary>Most vCPUs a shadow's containers may add up to (4 on the Consumption workload profile, 2 on the Consumption-only plan).</summary>
    public double MaxCpu { get; set; } = 4;

    /// <summary>
    /// The shadow's own data settings: environment variables set on every container, replacing the production value
    /// of the same name (for example the connection string of the shadow's own database).
    /// </summary>
    public Dictionary<string, string> Environment { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The shadow's own secrets, by environment variable: a Key Vault secret URL and the identity that reads it. They
    /// become secrets of the shadow app referenced from those variables; production's secret values are never read.
    /// </summary>
    public Dictionary<string, KeyVaultSecretReference> Secrets { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Production environment variables to copy as they are although their names look like data bindings.</summary>
    public List<string> KeepEnvironment { get; set; } = [];

    /// <summary>
    /// A user-assigned identity (resource id) for the shadow: used to pull images from registries that production
    /// reaches with an identity, and to read <see cref="Secrets"/>. Production's identities are never given to a shadow.
    /// </summary>
    public string? Identity { get; set; }
}

/// <summary>A Key Vault secret a shadow app reads with <see cref="Identity"/> (a user-assigned identity's resource id).</summary>
public sealed class KeyVaultSecretReference
{
    /// <summary>For example <c>https://shadow-kv.vault.azure.net/secrets/orders-db</c>.</summary>
    public string KeyVaultUrl { get; set; } = string.Empty;

    /// <summary>The identity that reads it; default the service's <see cref="ContainerAppsServiceOptions.Identity"/>.</summary>
    public string? Identity { get; set; }
}
