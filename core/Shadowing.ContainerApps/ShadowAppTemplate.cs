using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Shadowing.Core.Shadows;

namespace Shadowing.ContainerApps;

/// <summary>
/// Builds a shadow container app from the production app as ARM returns it: the same image, probes and scale, the
/// shadow's size and its own Dapr app id, internal ingress only, and no production data binding. Secrets, secret
/// references, storage volumes, service binds, scale-rule credentials, registry passwords and identities are never
/// copied: they are replaced by the shadow's own settings where configured, and otherwise dropped and listed in the
/// notes. Pure: no I/O, so what reaches Azure is tested field by field.
/// </summary>
public static partial class ShadowAppTemplate
{
    /// <summary>Tag names on every shadow app, which is how the provisioner finds its shadows again.</summary>
    public const string ServiceTag = "shadowing-service";

    /// <inheritdoc cref="ServiceTag"/>
    public const string ShadowTag = "shadowing-shadow";

    /// <inheritdoc cref="ServiceTag"/>
    public const string SizeTag = "shadowing-size";

    /// <inheritdoc cref="ServiceTag"/>
    public const string CopyOfTag = "shadowing-copy-of";

    /// <inheritdoc cref="ServiceTag"/>
    public const string StartedAtTag = "shadowing-started-at";

    /// <summary>Container Apps' name rule: 2 to 32 lower-case letters, digits and '-', a letter first, no '--', no '-' last.</summary>
    public const int MaxNameLength = 32;

    /// <summary>
    /// The shadow app's name (also its Dapr app id): <c>{production app}-{shadow id}</c>; a hash of both instead when that
    /// is too long or the shadow id is not already lower-case letters, digits and single dashes.
    /// </summary>
    public static string AppName(string productionApp, string shadowId)
    {
        ArgumentException.ThrowIfNullOrEmpty(productionApp);
        ArgumentException.ThrowIfNullOrEmpty(shadowId);
        // A shadow id the name rule would change takes the hashed form, so ids that differ only in case or punctuation
        // ("S1", "s1", "s.1") never share an app.
        var name = $"{Clean(productionApp)}-{shadowId}";
        if (Clean(shadowId) == shadowId && name.Length <= MaxNameLength && name.Length >= 2 && char.IsAsciiLetterLower(name[0]))
        {
            return name;
        }

        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{productionApp}/{shadowId}")))[..8].ToLowerInvariant();
        var prefix = Clean(productionApp);
        prefix = prefix.Length > MaxNameLength - 11 ? prefix[..(MaxNameLength - 11)].TrimEnd('-') : prefix;
        return Clean($"s{prefix}-{hash}").TrimStart('-');
    }

    /// <summary>
    /// The body of the PUT that creates (or resizes) the shadow app, and the notes on what was left out or replaced.
    /// </summary>
    /// <exception cref="ProvisioningException">The production app cannot be copied (no template, or neither Dapr nor ingress to reach a copy).</exception>
    public static (JsonObject Body, IReadOnlyList<string> Notes) Build(JsonObject production, ProvisionSpec spec, ContainerAppsServiceOptions options, DateTimeOffset startedAt)
    {
        ArgumentNullException.ThrowIfNull(production);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        var name = AppName(options.ProductionApp, spec.ShadowId);
        var notes = new List<string>();
        var properties = production["properties"] as JsonObject ?? throw new ProvisioningException($"Production app '{options.ProductionApp}' has no properties in ARM's answer.");
        var configuration = properties["configuration"] as JsonObject ?? new JsonObject();
        var template = properties["template"] as JsonObject ?? throw new ProvisioningException($"Production app '{options.ProductionApp}' has no template to copy.");
        var dapr = configuration["dapr"] as JsonObject;
        var ingress = configuration["ingress"] as JsonObject;
        var daprEnabled = dapr?["enabled"]?.GetValueKind() == System.Text.Json.JsonValueKind.True;
        if (!daprEnabled && ingress is null)
        {
            throw new ProvisioningException($"Production app '{options.ProductionApp}' has neither Dapr nor ingress: the router could not reach a copy of it.");
        }

        var secrets = new JsonArray();
        foreach (var (variable, reference) in options.Secrets)
        {
            secrets.Add(new JsonObject { ["name"] = SecretName(variable), ["keyVaultUrl"] = reference.KeyVaultUrl, ["identity"] = ReaderOf(reference, options) });
        }

        var shadowConfiguration = new JsonObject
        {
            ["activeRevisionsMode"] = "Single",
            ["secrets"] = secrets,
            ["registries"] = Registries(configuration["registries"] as JsonArray, options, notes),
        };
        if (ingress is not null)
        {
            // Internal only: the router reaches the shadow; no custom domain, traffic split, IP rule or CORS of production's.
            shadowConfiguration["ingress"] = new JsonObject
            {
                ["external"] = false,
                ["targetPort"] = ingress["targetPort"]?.DeepClone(),
                ["transport"] = ingress["transport"]?.DeepClone() ?? "auto",
            };
            if (ingress["additionalPortMappings"] is JsonArray { Count: > 0 } ports)
            {
                // The router reaches a shadow on its target port only; production's external ports must stay unique in the environment.
                notes.Add($"additional ingress ports not copied: {string.Join(", ", ports.Select(p => p?["targetPort"]?.ToJsonString()))}");
            }
        }

        if (daprEnabled)
        {
            shadowConfiguration["dapr"] = new JsonObject
            {
                ["enabled"] = true,
                ["appId"] = name,
                ["appPort"] = dapr!["appPort"]?.DeepClone(),
                ["appProtocol"] = dapr["appProtocol"]?.DeepClone() ?? "http",
            };
            notes.Add($"Dapr app id '{name}': components scoped to production's app id '{dapr["appId"]?.GetValue<string>() ?? options.ProductionApp}' do not apply to the shadow; components without scopes apply to every app, the shadow included");
        }

        if (production["identity"] is JsonObject productionIdentity && productionIdentity["type"]?.GetValue<string>() is { } type && !type.Equals("None", StringComparison.OrdinalIgnoreCase))
        {
            notes.Add($"identity ({type}) not copied: a production identity can reach production data");
        }

        var volumes = Volumes(template["volumes"] as JsonArray, notes);
        var kept = volumes.Select(v => v!["name"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        var scale = template["scale"] as JsonObject;
        var body = new JsonObject
        {
            ["location"] = production["location"]?.DeepClone(),
            ["tags"] = new JsonObject
            {
                [ServiceTag] = spec.Service,
                [ShadowTag] = spec.ShadowId,
                [SizeTag] = spec.Resources.Size.ToString(CultureInfo.InvariantCulture),
                [CopyOfTag] = options.ProductionApp,
                [StartedAtTag] = startedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            },
            ["properties"] = new JsonObject
            {
                ["environmentId"] = (properties["environmentId"] ?? properties["managedEnvironmentId"])?.DeepClone(),
                ["configuration"] = shadowConfiguration,
                ["template"] = new JsonObject
                {
                    ["containers"] = Containers(template["containers"] as JsonArray, "container", spec, options, kept, notes),
                    ["initContainers"] = Containers(template["initContainers"] as JsonArray, "init container", spec, options, kept, notes),
                    ["scale"] = Scale(scale, options, notes),
                    ["volumes"] = volumes,
                },
            },
        };
        if (properties["workloadProfileName"] is { } profile)
        {
            body["properties"]!["workloadProfileName"] = profile.DeepClone();
        }

        if (Identity(options) is { } identities)
        {
            body["identity"] = identities;
        }

        if (template["serviceBinds"] is JsonArray { Count: > 0 } binds)
        {
            notes.Add($"service binds not copied: {string.Join(", ", binds.Select(b => b?["name"]?.GetValue<string>()))}");
        }

        Scaled(body, spec, options, notes);
        return (body, notes);
    }

    /// <summary>
    /// The shadow app's user-assigned identities: the service's <see cref="ContainerAppsServiceOptions.Identity"/> and every
    /// identity a secret names. Azure reads a Key Vault reference only with an identity the app has, so each one named
    /// must be on the app. Null when there is none.
    /// </summary>
    private static JsonObject? Identity(ContainerAppsServiceOptions options)
    {
        var named = options.Secrets.Values.Select(s => ReaderOf(s, options)).Append(Blank(options.Identity)).OfType<string>()
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        return named.Count == 0 ? null : new JsonObject
        {
            ["type"] = "UserAssigned",
            ["userAssignedIdentities"] = new JsonObject(named.Select(u => KeyValuePair.Create(u, (JsonNode?)new JsonObject()))),
        };
    }

    /// <summary>The identity that reads <paramref name="secret"/>: its own, else the service's; null when neither is set.</summary>
    internal static string? ReaderOf(KeyVaultSecretReference secret, ContainerAppsServiceOptions options) =>
        Blank(secret.Identity) ?? Blank(options.Identity);

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>Whether an environment variable looks like a data binding (a store, a credential) and so is not copied.</summary>
    public static bool LooksLikeDataBinding(string name, string? value) =>
        DataBindingName().IsMatch(name) || (value is not null && DataBindingValue().IsMatch(value));

    private static JsonArray Registries(JsonArray? registries, ContainerAppsServiceOptions options, List<string> notes)
    {
        var copied = new JsonArray();
        foreach (var registry in registries?.OfType<JsonObject>() ?? [])
        {
            var server = registry["server"]?.GetValue<string>() ?? "?";
            if (registry["passwordSecretRef"] is not null)
            {
                notes.Add($"registry {server}: its password secret is not copied; give the shadow an identity that can pull (Identity)");
                if (Blank(options.Identity) is { } pull)
                {
                    copied.Add(new JsonObject { ["server"] = server, ["identity"] = pull });
                }
            }
            else if (registry["identity"] is not null)
            {
                if (Blank(options.Identity) is { } pull)
                {
                    copied.Add(new JsonObject { ["server"] = server, ["identity"] = pull });
                }
                else
                {
                    notes.Add($"registry {server}: production pulls with its own identity, not copied; set Identity for the shadow");
                }
            }
            else
            {
                copied.Add(new JsonObject { ["server"] = server });
            }
        }

        return copied;
    }

    private static JsonArray Volumes(JsonArray? volumes, List<string> notes)
    {
        var kept = new JsonArray();
        foreach (var volume in volumes?.OfType<JsonObject>() ?? [])
        {
            var type = volume["storageType"]?.GetValue<string>() ?? "EmptyDir";
            if (type.Equals("EmptyDir", StringComparison.OrdinalIgnoreCase))
            {
                kept.Add(new JsonObject { ["name"] = volume["name"]?.DeepClone(), ["storageType"] = "EmptyDir" });
            }
            else
            {
                notes.Add($"volume {volume["name"]} ({type}{(volume["storageName"] is { } storage ? " " + storage : string.Empty)}) not copied");
            }
        }

        return kept;
    }

    private static JsonArray Containers(JsonArray? containers, string kind, ProvisionSpec spec, ContainerAppsServiceOptions options, HashSet<string> volumes, List<string> notes)
    {
        var copies = new JsonArray();
        foreach (var container in containers?.OfType<JsonObject>() ?? [])
        {
            var name = container["name"]?.GetValue<string>() ?? "?";
            foreach (var argument in (container["command"]?.AsArray() ?? []).Concat(container["args"]?.AsArray() ?? []))
            {
                if (argument?.GetValueKind() == System.Text.Json.JsonValueKind.String && LooksLikeDataBinding(string.Empty, argument.GetValue<string>()))
                {
                    // An argument cannot be replaced by the shadow's own setting, and copying it would point the shadow at production's data.
                    throw new ProvisioningException($"{kind} {name} of '{options.ProductionApp}' has a command-line argument that looks like a data binding (a connection string or credentials); a shadow cannot copy it. Move it to an environment variable or a secret, which the shadow replaces with its own.");
                }
            }

            var copy = new JsonObject { ["name"] = name, ["image"] = container["image"]?.DeepClone() };
            foreach (var field in new[] { "command", "args", "probes" })
            {
                if (container[field] is { } value)
                {
                    copy[field] = value.DeepClone();
                }
            }

            copy["resources"] = container["resources"]?.DeepClone() ?? new JsonObject { ["cpu"] = 0.25, ["memory"] = "0.5Gi" };
            var env = new JsonArray();
            var set = new HashSet<string>(StringComparer.Ordinal);
            foreach (var variable in container["env"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                var variableName = variable["name"]?.GetValue<string>() ?? string.Empty;
                if (options.Environment.ContainsKey(variableName) || options.Secrets.ContainsKey(variableName))
                {
                    continue; // the shadow's own value is added below
                }

                if (variable["secretRef"] is { } secretRef)
                {
                    notes.Add($"{kind} {name}: env {variableName} (secret {secretRef}) not copied");
                }
                else if (!options.KeepEnvironment.Contains(variableName, StringComparer.Ordinal) && LooksLikeDataBinding(variableName, variable["value"]?.GetValue<string>()))
                {
                    notes.Add($"{kind} {name}: env {variableName} looks like a data binding, not copied (KeepEnvironment copies it)");
                }
                else
                {
                    env.Add(new JsonObject { ["name"] = variableName, ["value"] = variable["value"]?.DeepClone() });
                    set.Add(variableName);
                }
            }

            foreach (var (variable, value) in options.Environment)
            {
                env.Add(new JsonObject { ["name"] = variable, ["value"] = value });
            }

            foreach (var variable in options.Secrets.Keys)
            {
                env.Add(new JsonObject { ["name"] = variable, ["secretRef"] = SecretName(variable) });
            }

            env.Add(new JsonObject { ["name"] = "SHADOW_ID", ["value"] = spec.ShadowId });
            env.Add(new JsonObject { ["name"] = "SHADOW_SIZE", ["value"] = spec.Resources.Size.ToString(CultureInfo.InvariantCulture) });
            env.Add(new JsonObject { ["name"] = "SHADOW_ADDED_LATENCY_MS", ["value"] = spec.Resources.AddedLatencyMs.ToString(CultureInfo.InvariantCulture) });
            env.Add(new JsonObject { ["name"] = "SHADOW_ERROR_RATE", ["value"] = spec.Resources.ErrorRate.ToString(CultureInfo.InvariantCulture) });
            copy["env"] = env;

            var mounts = new JsonArray();
            foreach (var mount in container["volumeMounts"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                if (mount["volumeName"]?.GetValue<string>() is { } volume && volumes.Contains(volume))
                {
                    mounts.Add(mount.DeepClone());
                }
            }

            if (mounts.Count > 0)
            {
                copy["volumeMounts"] = mounts;
            }

            copies.Add(copy);
        }

        return copies;
    }

    private static JsonObject Scale(JsonObject? scale, ContainerAppsServiceOptions options, List<string> notes)
    {
        var max = options.MaxReplicas ?? scale?["maxReplicas"]?.GetValue<int>() ?? 10;
        var min = Math.Max(1, options.MinReplicas);
        var rules = new JsonArray();
        foreach (var rule in scale?["rules"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var ruleName = rule["name"]?.GetValue<string>() ?? "?";
            var trigger = rule.FirstOrDefault(p => p.Key != "name").Value as JsonObject;
            if (trigger?["auth"] is JsonArray { Count: > 0 })
            {
                notes.Add($"scale rule {ruleName}: its credentials are production's, not copied");
            }
            else if (rule["http"] is not null || rule["custom"]?["type"]?.GetValue<string>() == "http" || rule["tcp"] is not null)
            {
                rules.Add(rule.DeepClone());
            }
            else
            {
                notes.Add($"scale rule {ruleName}: scales on a production source, not copied");
            }
        }

        return new JsonObject { ["minReplicas"] = min, ["maxReplicas"] = Math.Max(min, max), ["rules"] = rules };
    }

    /// <summary>Scales every container's CPU and memory by the shadow's size, keeping memory at twice the vCPUs (Container Apps' pairs) and the total within <see cref="ContainerAppsServiceOptions.MaxCpu"/>.</summary>
    private static void Scaled(JsonObject body, ProvisionSpec spec, ContainerAppsServiceOptions options, List<string> notes)
    {
        var template = body["properties"]!["template"]!;
        var containers = template["containers"]!.AsArray().OfType<JsonObject>().ToArray();
        var initContainers = template["initContainers"]!.AsArray().OfType<JsonObject>().ToArray();

        // The Consumption plan and profile allow only vCPU:memory pairs of 1:2 Gi; a Dedicated profile allows any
        // memory the profile has, so there the shadow keeps production's memory per vCPU (a memory-optimised app stays so).
        var profile = body["properties"]!["workloadProfileName"]?.GetValue<string>();
        var dedicated = profile is not null && !profile.Equals("Consumption", StringComparison.OrdinalIgnoreCase);
        var cpu = (JsonObject c) => c["resources"]?["cpu"]?.GetValue<double>() ?? 0.25;
        var memory = (JsonObject c) => dedicated && Gibibytes(c["resources"]?["memory"]?.GetValue<string>()) is > 0 and var gi ? gi : cpu(c) * 2;

        // Only the app containers add up to the app's allocation; an init container runs before them and may take at
        // most their total (Azure: ContainerAppInitContainersInvalidCpu).
        var total = containers.Sum(cpu);
        var factor = Math.Max(1, spec.Resources.Size);
        if (total * factor > options.MaxCpu)
        {
            var capped = Math.Max(1, Math.Floor(options.MaxCpu / total));
            notes.Add($"size {factor} would need {total * factor:0.##} vCPUs, over MaxCpu {options.MaxCpu:0.##}: sized {capped:0} instead");
            factor = (int)capped;
        }

        var (appCpu, appMemory) = (0.0, 0.0);
        foreach (var container in containers)
        {
            var (c, m) = Resources(cpu(container), memory(container), factor, double.MaxValue, double.MaxValue, dedicated);
            Set(container, c, m);
            (appCpu, appMemory) = (appCpu + c, appMemory + m);
        }

        foreach (var container in initContainers)
        {
            var (c, m) = Resources(cpu(container), memory(container), factor, appCpu, appMemory, dedicated);
            Set(container, c, m);
        }

        static (double Cpu, double Memory) Resources(double cpu, double memory, int factor, double maxCpu, double maxMemory, bool dedicated)
        {
            var scaled = Math.Max(0.25, Math.Min(maxCpu, Math.Round(cpu * factor * 4, MidpointRounding.AwayFromZero) / 4)); // 0.25 vCPU steps
            return (scaled, dedicated ? Math.Min(maxMemory, Math.Ceiling(Math.Round(memory * factor * 100, 6)) / 100) : scaled * 2);
        }

        static void Set(JsonObject container, double cpu, double memory) => container["resources"] = new JsonObject
        {
            ["cpu"] = cpu,
            ["memory"] = memory.ToString("0.##", CultureInfo.InvariantCulture) + "Gi",
        };
    }

    /// <summary>A Container Apps memory value (<c>1.5Gi</c>, <c>512Mi</c>, <c>2G</c>) in GiB, or null.</summary>
    internal static double? Gibibytes(string? value)
    {
        var match = value is null ? null : MemoryValue().Match(value.Trim());
        if (match is not { Success: true } || !double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount))
        {
            return null;
        }

        return match.Groups[2].Value switch
        {
            "Gi" or "" => amount,
            "Mi" => amount / 1024,
            "G" => amount * 1e9 / (1024.0 * 1024 * 1024),
            _ => amount * 1e6 / (1024.0 * 1024 * 1024), // M
        };
    }

    private static string SecretName(string variable) => Clean("shadow-" + variable);

    private static string Clean(string text)
    {
        var lower = InvalidNameCharacters().Replace(text.ToLowerInvariant(), "-");
        return DoubleDash().Replace(lower, "-").Trim('-');
    }

    [GeneratedRegex("[^a-z0-9-]")]
    private static partial Regex InvalidNameCharacters();

    [GeneratedRegex("^([0-9]+(?:\\.[0-9]+)?)(Gi|Mi|G|M|)$")]
    private static partial Regex MemoryValue();

    [GeneratedRegex("-{2,}")]
    private static partial Regex DoubleDash();

    [GeneratedRegex("CONN(ECTION)?_?STR|CONNECTION|DATABASE|(^|_)DB(_|$)|PASSWORD|PASSWD|(^|_)PWD(_|$)|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|ACCOUNT_?KEY|(^|_)SAS(_|$)|STORAGE|REDIS|SQL|COSMOS|MONGO|POSTGRES|MYSQL|SERVICEBUS|SERVICE_BUS|EVENTHUB|EVENT_HUB|KAFKA|AMQP|(^|_)DSN(_|$)", RegexOptions.IgnoreCase)]
    private static partial Regex DataBindingName();

    // Connection-string keys, credentials in a URL (rediss://:password@host too), and URLs of data stores.
    [GeneratedRegex("AccountKey=|Password=|SharedAccessKey=|Server=|Host=.*;|://[^/\\s@]*:[^/\\s@]+@|^(redis|rediss|postgres|postgresql|mysql|mongodb|mongodb\\+srv|amqp|amqps|sqlserver|jdbc:[a-z]+)://", RegexOptions.IgnoreCase)]
    private static partial Regex DataBindingValue();
}
