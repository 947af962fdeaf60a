using System.Text.Json.Nodes;
using Shadowing.Core.Shadows;

namespace Shadowing.ContainerApps.Tests;

public sealed class ShadowAppTemplateTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 11, 30, 0, TimeSpan.Zero);

    private static ContainerAppsServiceOptions Options() => new() { ProductionApp = "orders" };

    [Fact]
    public void Build_CopiesImageProbesAndScale_WithTheShadowsOwnDaprIdAndInternalIngress()
    {
        var (body, _) = ShadowAppTemplate.Build(ArmShapes.ProductionApp(), Spec(size: 1), Options(), Now);

        var properties = body["properties"]!;
        var container = properties["template"]!["containers"]![0]!;
        Assert.Equal("repo/orders:v4", container["image"]!.GetValue<string>());
        Assert.Equal("/healthz", container["probes"]![0]!["httpGet"]!["path"]!.GetValue<string>());
        Assert.Equal("/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/demokube", properties["environmentId"]!.GetValue<string>());
        Assert.Equal("My-GP-01", properties["workloadProfileName"]!.GetValue<string>());
        Assert.Equal("orders-s20261202t1400-1", properties["configuration"]!["dapr"]!["appId"]!.GetValue<string>());
        Assert.Equal(3000, properties["configuration"]!["dapr"]!["appPort"]!.GetValue<int>());
        Assert.False(properties["configuration"]!["ingress"]!["external"]!.GetValue<bool>());
        Assert.Null(properties["configuration"]!["ingress"]!["ipSecurityRestrictions"]);
        Assert.Equal((1, 5), (properties["template"]!["scale"]!["minReplicas"]!.GetValue<int>(), properties["template"]!["scale"]!["maxReplicas"]!.GetValue<int>()));
        Assert.Equal("orders", body["tags"]![ShadowAppTemplate.ServiceTag]!.GetValue<string>());
        Assert.Equal("East US", body["location"]!.GetValue<string>());
    }

    [Fact]
    public void Build_NeverCopiesProductionsDataBindings_AndListsWhatItLeftOut()
    {
        var (body, notes) = ShadowAppTemplate.Build(ArmShapes.ProductionApp(), Spec(size: 1), Options(), Now);

        var json = body.ToJsonString();
        foreach (var production in new[] { "orders-db", "hunter2", "acr-password", "queue-key", "orders-files", "redisService", "orders-prod", "ConnectionStrings__Orders" })
        {
            Assert.DoesNotContain(production, json, StringComparison.Ordinal);
        }

        Assert.Empty(body["properties"]!["configuration"]!["secrets"]!.AsArray());
        Assert.Null(body["identity"]);
        var env = Env(body);
        Assert.Equal("Production", env["ASPNETCORE_ENVIRONMENT"]);
        Assert.Equal("fast-checkout", env["FEATURE_FLAGS"]);
        Assert.Equal("s20261202t1400-1", env["SHADOW_ID"]);
        Assert.Equal(["scratch"], body["properties"]!["template"]!["volumes"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()));
        Assert.Equal(["/tmp/scratch"], body["properties"]!["template"]!["containers"]![0]!["volumeMounts"]!.AsArray().Select(m => m!["mountPath"]!.GetValue<string>()));
        Assert.Equal(["httpscalingrule"], body["properties"]!["template"]!["scale"]!["rules"]!.AsArray().Select(r => r!["name"]!.GetValue<string>()));
        Assert.Contains(notes, n => n.Contains("env ConnectionStrings__Orders (secret orders-db) not copied", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("env CACHE_URL looks like a data binding", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("registry ordersacr.azurecr.io: its password secret is not copied", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("volume uploads (AzureFile orders-files) not copied", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("scale rule queue: its credentials are production's", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("service binds not copied: redisService", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("identity (UserAssigned) not copied", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("components scoped to production's app id 'orders' do not apply", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_TheShadowsOwnDataSettingsAndSecrets_ReplaceProductions()
    {
        var options = Options();
        options.Environment["CACHE_URL"] = "rediss://shadow-cache:6380";
        options.Secrets["ConnectionStrings__Orders"] = new KeyVaultSecretReference { KeyVaultUrl = "https://shadow-kv.vault.azure.net/secrets/orders-db-shadow" };
        options.Identity = "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-shadow";
        options.KeepEnvironment.Add("FEATURE_FLAGS");

        var (body, notes) = ShadowAppTemplate.Build(ArmShapes.ProductionApp(), Spec(size: 1), options, Now);

        var env = Env(body);
        Assert.Equal("rediss://shadow-cache:6380", env["CACHE_URL"]);
        var secretEnv = body["properties"]!["template"]!["containers"]![0]!["env"]!.AsArray().Single(e => e!["name"]!.GetValue<string>() == "ConnectionStrings__Orders")!;
        Assert.Equal("shadow-connectionstrings-orders", secretEnv["secretRef"]!.GetValue<string>());
        var secret = body["properties"]!["configuration"]!["secrets"]![0]!;
        Assert.Equal(("shadow-connectionstrings-orders", "https://shadow-kv.vault.azure.net/secrets/orders-db-shadow", options.Identity), (secret["name"]!.GetValue<string>(), secret["keyVaultUrl"]!.GetValue<string>(), secret["identity"]!.GetValue<string>()));
        Assert.Equal(options.Identity, body["properties"]!["configuration"]!["registries"]![0]!["identity"]!.GetValue<string>());
        Assert.Equal("UserAssigned", body["identity"]!["type"]!.GetValue<string>());
        Assert.DoesNotContain(notes, n => n.Contains("CACHE_URL", StringComparison.Ordinal) || n.Contains("ConnectionStrings__Orders", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_EveryIdentityASecretNames_IsOnTheApp_ABlankOneFallsBackToTheServices()
    {
        const string Own = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-shadow";
        const string Reader = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kv-reader";
        var options = Options();
        options.Identity = Own;
        options.Secrets["A"] = new KeyVaultSecretReference { KeyVaultUrl = "https://kv.vault.azure.net/secrets/a" };
        options.Secrets["B"] = new KeyVaultSecretReference { KeyVaultUrl = "https://kv.vault.azure.net/secrets/b", Identity = Reader };
        options.Secrets["C"] = new KeyVaultSecretReference { KeyVaultUrl = "https://kv.vault.azure.net/secrets/c", Identity = " " };

        var (body, _) = ShadowAppTemplate.Build(ArmShapes.ProductionApp(), Spec(size: 1), options, Now);

        var identity = body["identity"]!;
        Assert.Equal("UserAssigned", identity["type"]!.GetValue<string>());
        Assert.Equal([Reader, Own], identity["userAssignedIdentities"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(
            [Own, Reader, Own],
            body["properties"]!["configuration"]!["secrets"]!.AsArray().Select(x => x!["identity"]!.GetValue<string>()));

        options.Identity = " "; // blank: no identity on the app, so none for image pulls either
        options.Secrets.Clear();
        var blank = ShadowAppTemplate.Build(ArmShapes.ProductionApp(), Spec(size: 1), options, Now).Body;
        Assert.Null(blank["identity"]);
        Assert.DoesNotContain(blank["properties"]!["configuration"]!["registries"]!.AsArray(), r => r!["identity"] is not null);
    }

    [Theory]
    [InlineData(1, 0.5, "1Gi")]
    [InlineData(2, 1.0, "2Gi")]
    [InlineData(3, 1.5, "3Gi")]
    [InlineData(20, 4.0, "8Gi")] // capped at MaxCpu 4: sized 8
    public void Build_Size_ScalesCpuAndMemoryInContainerAppsPairs(int size, double cpu, string memory)
    {
        var (body, notes) = ShadowAppTemplate.Build(ArmShapes.ProductionApp(), Spec(size), Options(), Now);

        var resources = body["properties"]!["template"]!["containers"]![0]!["resources"]!;
        Assert.Equal((cpu, memory), (resources["cpu"]!.GetValue<double>(), resources["memory"]!.GetValue<string>()));
        Assert.Equal(size > 8, notes.Any(n => n.Contains("over MaxCpu", StringComparison.Ordinal)));
    }

    [Fact]
    public void Build_ProductionWithNeitherDaprNorIngress_IsRefused()
    {
        var production = ArmShapes.ProductionApp();
        var configuration = production["properties"]!["configuration"]!.AsObject();
        configuration.Remove("dapr");
        configuration.Remove("ingress");

        var error = Assert.Throws<ProvisioningException>(() => ShadowAppTemplate.Build(production, Spec(1), Options(), Now));

        Assert.Contains("neither Dapr nor ingress", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_ProductionArgumentLooksLikeADataBinding_IsRefusedRatherThanCopied()
    {
        var production = ArmShapes.ProductionApp();
        production["properties"]!["template"]!["containers"]![0]!["args"] = new JsonArray("--db", "Server=tcp:orders.database.windows.net;Password=hunter2");

        var error = Assert.Throws<ProvisioningException>(() => ShadowAppTemplate.Build(production, Spec(1), Options(), Now));

        Assert.Contains("command-line argument that looks like a data binding", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("orders", "s20261202t1400-1", "orders-s20261202t1400-1")]
    [InlineData("Orders.API", "s20261202t1400r2-1", "orders-api-s20261202t1400r2-1")]
    [InlineData("a-very-long-production-app-name", "s20261202t1400-1", null)]
    [InlineData("9lives", "s1", null)]
    public void AppName_FollowsContainerAppsNameRule(string production, string shadowId, string? expected)
    {
        var name = ShadowAppTemplate.AppName(production, shadowId);

        if (expected is not null)
        {
            Assert.Equal(expected, name);
        }

        Assert.Matches("^[a-z](?!.*--)[a-z0-9-]{0,30}[a-z0-9]$", name);
        Assert.NotEqual(name, ShadowAppTemplate.AppName(production, shadowId + "0"));
    }

    [Theory]
    [InlineData("My-GP-01", 2, 2.0, "16Gi", 2.0, "8Gi")] // Dedicated: production's 8 GiB per vCPU kept
    [InlineData("Consumption", 2, 2.0, "4Gi", 2.0, "4Gi")] // the Consumption profile's 1:2 pairs
    [InlineData(null, 2, 2.0, "4Gi", 2.0, "4Gi")] // a Consumption-only environment
    [InlineData("My-GP-01", 1, 1.0, "8Gi", 1.0, "4Gi")]
    public void Build_Size_KeepsADedicatedProfilesMemoryPerVcpu_AndInitContainersFitInTheAppContainers(string? profile, int size, double cpu, string memory, double initCpu, string initMemory)
    {
        var production = ArmShapes.ProductionApp();
        var properties = production["properties"]!.AsObject();
        properties.Remove("workloadProfileName");
        if (profile is not null)
        {
            properties["workloadProfileName"] = profile;
        }

        var template = properties["template"]!;
        template["containers"]![0]!["resources"] = new JsonObject { ["cpu"] = 1.0, ["memory"] = "8Gi" };
        template["initContainers"] = new JsonArray(new JsonObject { ["name"] = "migrate", ["image"] = "repo/orders-migrate:v4", ["resources"] = new JsonObject { ["cpu"] = 1.0, ["memory"] = "4Gi" } });

        var (body, notes) = ShadowAppTemplate.Build(production, Spec(size), Options(), Now);

        var container = body["properties"]!["template"]!["containers"]![0]!["resources"]!;
        var init = body["properties"]!["template"]!["initContainers"]![0]!["resources"]!;
        Assert.Equal((cpu, memory), (container["cpu"]!.GetValue<double>(), container["memory"]!.GetValue<string>()));
        Assert.Equal((initCpu, initMemory), (init["cpu"]!.GetValue<double>(), init["memory"]!.GetValue<string>()));
        Assert.DoesNotContain(notes, n => n.Contains("over MaxCpu", StringComparison.Ordinal)); // 2 vCPUs of app containers fit in 4
    }

    [Fact]
    public void Build_AnInitContainerLargerThanTheAppContainers_IsCutToTheirTotal()
    {
        var production = ArmShapes.ProductionApp();
        production["properties"]!["template"]!["initContainers"] = new JsonArray(new JsonObject { ["name"] = "migrate", ["image"] = "repo/orders-migrate:v4", ["resources"] = new JsonObject { ["cpu"] = 2.0, ["memory"] = "4Gi" } });

        var (body, _) = ShadowAppTemplate.Build(production, Spec(size: 2), Options(), Now);

        var init = body["properties"]!["template"]!["initContainers"]![0]!["resources"]!;
        Assert.Equal((1.0, "2Gi"), (init["cpu"]!.GetValue<double>(), init["memory"]!.GetValue<string>())); // the app containers' 2 × 0.5 vCPU, 2 GiB
    }

    [Fact]
    public void Build_AdditionalIngressPorts_AreNotCopied_AndTheNotesSaySo()
    {
        var production = ArmShapes.ProductionApp();
        production["properties"]!["configuration"]!["ingress"]!["additionalPortMappings"] = new JsonArray(new JsonObject { ["external"] = true, ["targetPort"] = 9090, ["exposedPort"] = 9090 });

        var (body, notes) = ShadowAppTemplate.Build(production, Spec(size: 1), Options(), Now);

        Assert.Null(body["properties"]!["configuration"]!["ingress"]!["additionalPortMappings"]);
        Assert.Contains("additional ingress ports not copied: 9090", notes);
    }

    [Theory]
    [InlineData("1.5Gi", 1.5)]
    [InlineData("512Mi", 0.5)]
    [InlineData("4", 4.0)]
    [InlineData("lots", null)]
    public void Gibibytes_ReadsContainerAppsMemoryValues(string value, double? expected) =>
        Assert.Equal(expected, ShadowAppTemplate.Gibibytes(value));

    [Fact]
    public void AppName_ShadowIdsThatDifferOnlyInCaseOrPunctuation_GetDifferentApps()
    {
        string[] ids = ["s1", "S1", "s.1", "s_1", "s1-"];

        var names = ids.Select(id => ShadowAppTemplate.AppName("orders", id)).ToList();

        Assert.Equal("orders-s1", names[0]);
        Assert.Equal(ids.Length, names.Distinct(StringComparer.Ordinal).Count());
        Assert.All(names, n => Assert.Matches("^[a-z](?!.*--)[a-z0-9-]{0,30}[a-z0-9]$", n));
    }

    [Theory]
    [InlineData("ConnectionStrings__Orders", "x", true)]
    [InlineData("DB_HOST", "orders-db", true)]
    [InlineData("STORAGE_ACCOUNT", "x", true)]
    [InlineData("UPSTREAM", "Server=tcp:orders.database.windows.net;Password=x", true)]
    [InlineData("UPSTREAM", "https://user:secret@example.com/", true)]
    [InlineData("ASPNETCORE_ENVIRONMENT", "Production", false)]
    [InlineData("LOG_LEVEL", "info", false)]
    [InlineData("UPSTREAM", "https://api.example.com/", false)]
    [InlineData("CACHE_URL", "rediss://:hunter2@cache:6380", true)]
    [InlineData("QUEUE", "amqps://broker.example.com", true)]
    public void LooksLikeDataBinding_NamesAndValues(string name, string value, bool expected)
    {
        Assert.Equal(expected, ShadowAppTemplate.LooksLikeDataBinding(name, value));
    }

    private static ProvisionSpec Spec(int size) => new("orders", "s20261202t1400-1", new ShadowResources(Size: size));

    private static Dictionary<string, string> Env(JsonObject body) =>
        body["properties"]!["template"]!["containers"]![0]!["env"]!.AsArray()
            .Where(e => e!["value"] is not null)
            .ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]!.GetValue<string>());
}
