using System.Text.Json.Nodes;

namespace Shadowing.ContainerApps.Tests;

/// <summary>
/// ARM answers shaped like the documented examples of the Microsoft.App REST API in Azure/azure-rest-api-specs,
/// specification/app/resource-manager/Microsoft.App/stable/2024-03-01/ (ContainerApps.json and examples/), and the
/// Azure CLI's recorded live traffic where the examples are silent. Each member says which one it follows.
/// </summary>
internal static class ArmShapes
{
    /// <summary>
    /// examples/ContainerApps_Get.json (200): the production app, with the parts the spec's ContainerApp schema defines
    /// and the example leaves out filled in: a connection-string secret and the env var that reads it, a plain env var
    /// holding a connection string, an ordinary env var, a registry with a password secret, an Azure Files volume, a
    /// scale rule that authenticates with a secret, and a user-assigned identity.
    /// </summary>
    public static JsonObject ProductionApp() => (JsonObject)JsonNode.Parse("""
        {
          "id": "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.App/containerApps/orders",
          "name": "orders",
          "type": "Microsoft.App/containerApps",
          "location": "East US",
          "identity": { "type": "UserAssigned", "userAssignedIdentities": { "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-prod": {} } },
          "properties": {
            "provisioningState": "Succeeded",
            "managedEnvironmentId": "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/demokube",
            "workloadProfileName": "My-GP-01",
            "latestRevisionFqdn": "orders-pjxhsye.demokube-t24clv0g.eastus.containerApps.k4apps.io",
            "latestReadyRevisionName": "orders-pjxhsye",
            "configuration": {
              "secrets": [ { "name": "orders-db" } ],
              "registries": [ { "server": "ordersacr.azurecr.io", "username": "ordersacr", "passwordSecretRef": "acr-password" } ],
              "ingress": {
                "fqdn": "orders.demokube-t24clv0g.eastus.containerApps.k4apps.io",
                "external": true,
                "targetPort": 3000,
                "transport": "auto",
                "traffic": [ { "weight": 100, "revisionName": "orders-pjxhsye" } ],
                "ipSecurityRestrictions": [ { "name": "Allow work IP A subnet", "ipAddressRange": "192.168.1.1/32", "action": "Allow" } ]
              },
              "dapr": { "enabled": true, "appId": "orders", "appPort": 3000, "appProtocol": "http", "logLevel": "debug" },
              "maxInactiveRevisions": 10
            },
            "template": {
              "containers": [
                {
                  "image": "repo/orders:v4",
                  "name": "orders",
                  "resources": { "cpu": 0.5, "memory": "1Gi" },
                  "env": [
                    { "name": "ConnectionStrings__Orders", "secretRef": "orders-db" },
                    { "name": "CACHE_URL", "value": "rediss://:hunter2@orders-cache.redis.cache.windows.net:6380" },
                    { "name": "ASPNETCORE_ENVIRONMENT", "value": "Production" },
                    { "name": "FEATURE_FLAGS", "value": "fast-checkout" }
                  ],
                  "volumeMounts": [ { "volumeName": "uploads", "mountPath": "/uploads" }, { "volumeName": "scratch", "mountPath": "/tmp/scratch" } ],
                  "probes": [ { "type": "Liveness", "httpGet": { "path": "/healthz", "port": 3000 }, "initialDelaySeconds": 3, "periodSeconds": 3 } ]
                }
              ],
              "scale": {
                "minReplicas": 1,
                "maxReplicas": 5,
                "rules": [
                  { "name": "httpscalingrule", "http": { "metadata": { "concurrentRequests": "50" } } },
                  { "name": "queue", "azureQueue": { "queueName": "orders", "queueLength": 10, "auth": [ { "secretRef": "queue-key", "triggerParameter": "connection" } ] } }
                ]
              },
              "volumes": [ { "name": "uploads", "storageType": "AzureFile", "storageName": "orders-files" }, { "name": "scratch", "storageType": "EmptyDir" } ],
              "serviceBinds": [ { "serviceId": "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/rg/providers/Microsoft.App/containerApps/redisService", "name": "redisService" } ]
            }
          }
        }
        """)!;

    /// <summary>
    /// examples/ContainerApps_CreateOrUpdate.json (201: "create or update has been started", provisioningState
    /// InProgress, no latestReadyRevisionName).
    /// </summary>
    public static JsonObject Started(string name) => (JsonObject)JsonNode.Parse($$"""
        { "id": "{{ArmStub.AppsPath}}/{{name}}", "name": "{{name}}", "type": "Microsoft.App/containerApps", "location": "East US",
          "properties": { "provisioningState": "InProgress", "latestRevisionName": "", "latestReadyRevisionName": "" } }
        """)!;

    /// <summary>examples/ContainerApps_Get.json, for the shadow app once created: its tags, Dapr app id and latest revision.</summary>
    public static JsonObject ShadowApp(string name, string shadowId, int size, string provisioningState = "Succeeded") => (JsonObject)JsonNode.Parse($$"""
        { "id": "{{ArmStub.AppsPath}}/{{name}}", "name": "{{name}}", "type": "Microsoft.App/containerApps", "location": "East US",
          "tags": { "shadowing-service": "orders", "shadowing-shadow": "{{shadowId}}", "shadowing-size": "{{size}}", "shadowing-copy-of": "orders", "shadowing-started-at": "2026-12-02T11:30:00.0000000Z" },
          "properties": {
            "provisioningState": "{{provisioningState}}",
            "latestRevisionName": "{{name}}--r1",
            "latestReadyRevisionName": "{{name}}--r1",
            "configuration": { "ingress": { "fqdn": "{{name}}.internal.demokube-t24clv0g.eastus.containerApps.k4apps.io", "external": false, "targetPort": 3000 },
                               "dapr": { "enabled": true, "appId": "{{name}}", "appPort": 3000, "appProtocol": "http" } } } }
        """)!;

    /// <summary>
    /// The operation status the Azure-AsyncOperation URL answers, as recorded live by the Azure CLI
    /// (Azure/azure-cli, containerapp tests, recordings/test_containerapp_anonymous_registry.yaml):
    /// <c>{"id","name","status":"InProgress"|"Succeeded","startTime"}</c>; Failed carries ARM's <c>error</c> object
    /// (Azure/azure-resource-manager-rpc, async-api-reference.md).
    /// </summary>
    public static JsonObject Operation(string status) => (JsonObject)JsonNode.Parse($$"""
        { "id": "/subscriptions/{{ArmStub.Subscription}}/providers/Microsoft.App/locations/eastus/containerappOperationStatuses/ba874cc4", "name": "ba874cc4", "status": "{{status}}", "startTime": "2026-12-02T11:30:00.0",
          {{(status == "Failed" ? "\"error\": { \"code\": \"ContainerAppImagePullFailure\", \"message\": \"unauthorized: authentication required\" }," : string.Empty)}} "percentComplete": 50 }
        """)!;

    /// <summary>The operation URL, as the live service names it (same recording).</summary>
    public const string OperationUrl = $"https://management.azure.com/subscriptions/{ArmStub.Subscription}/providers/Microsoft.App/locations/eastus/containerappOperationStatuses/ba874cc4?api-version=2024-03-01&azureAsyncOperation=true";

    /// <summary>The operation status path (what the stub matches).</summary>
    public const string OperationPath = $"/subscriptions/{ArmStub.Subscription}/providers/Microsoft.App/locations/eastus/containerappOperationStatuses/ba874cc4";

    /// <summary>
    /// examples/Revisions_Get.json (2023-05-01; the 2024-03-01 list example has the same item): runningState from the
    /// RevisionRunningState enum (Running, Processing, Stopped, Degraded, Failed, Unknown), healthState, provisioningError.
    /// </summary>
    public static JsonObject Revision(string name, string runningState, string healthState = "Healthy", string? provisioningError = null) => (JsonObject)JsonNode.Parse($$"""
        { "id": "{{ArmStub.AppsPath}}/x/revisions/{{name}}", "name": "{{name}}", "type": "Microsoft.App/containerApps/revisions",
          "properties": { "createdTime": "2026-12-02T11:30:00+00:00", "active": true, "replicas": 1, "trafficWeight": 100,
                          "runningState": "{{runningState}}", "healthState": "{{healthState}}", "provisioningState": "{{(runningState == "Failed" ? "Failed" : "Provisioned")}}"
                          {{(provisioningError is null ? string.Empty : $", \"provisioningError\": \"{provisioningError}\"")}} } }
        """)!;

    /// <summary>examples/ContainerApps_ListByResourceGroup.json: <c>{"value": [...], "nextLink": …}</c>.</summary>
    public static JsonObject Page(string? nextLink, params JsonObject[] apps) => new()
    {
        ["value"] = new JsonArray([.. apps]),
        ["nextLink"] = nextLink,
    };

    /// <summary>CommonDefinitions.json DefaultErrorResponse.</summary>
    public static JsonObject Error(string code, string message) => new() { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } };
}
