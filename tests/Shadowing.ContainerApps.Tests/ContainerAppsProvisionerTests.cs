using System.Net;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Shadows;

namespace Shadowing.ContainerApps.Tests;

/// <summary>The provisioner's ARM request sequence on a stubbed transport (shapes and their sources: <see cref="ArmShapes"/>).</summary>
public sealed class ContainerAppsProvisionerTests
{
    private const string Shadow = "s20261202t1400-1";
    private const string Name = "orders-s20261202t1400-1";
    private const string Api = "?api-version=2024-03-01";
    private readonly ArmStub _arm = new();
    private readonly StubCredential _credential = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 11, 30, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.FromSeconds(1) };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string App(string name) => $"{ArmStub.AppsPath}/{name}";

    [Fact]
    public void Problem_ASecretWithoutAUserAssignedIdentityToReadIt_OrWithoutAnHttpsUrl_NamesIt()
    {
        var service = new ContainerAppsServiceOptions { ProductionApp = "orders" };
        var options = new ContainerAppsProvisionerOptions { SubscriptionId = ArmStub.Subscription, ResourceGroup = "rg", Services = { ["orders"] = service } };
        service.Secrets["DB"] = new KeyVaultSecretReference { KeyVaultUrl = "https://shadow-kv.vault.azure.net/secrets/orders-db" };

        Assert.Contains("Services:orders:Secrets:DB:Identity is not set", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);

        service.Secrets["DB"].Identity = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kv-reader";
        Assert.Null(ContainerAppsProvisioner.Problem(options));

        // A new app's system-assigned identity cannot have been granted the vault before Azure reads the secret.
        service.Secrets["DB"].Identity = "system";
        Assert.Contains("Services:orders:Secrets:DB:Identity (or the service's Identity) must be a user-assigned identity's resource id", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);

        service.Secrets["DB"].Identity = " "; // blank: the service's identity reads it
        service.Identity = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-shadow";
        Assert.Null(ContainerAppsProvisioner.Problem(options));

        service.Secrets["DB"].KeyVaultUrl = "shadow-kv/orders-db";
        Assert.Contains("Services:orders:Secrets:DB:KeyVaultUrl", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_AServiceIdentityThatIsNotAResourceId_NoReplicaKeptWarm_OrAVariableSetTwice_NamesIt()
    {
        var service = new ContainerAppsServiceOptions { ProductionApp = "orders", Identity = "system" };
        var options = new ContainerAppsProvisionerOptions { SubscriptionId = ArmStub.Subscription, ResourceGroup = "rg", Services = { ["orders"] = service } };

        Assert.Contains("Services:orders:Identity must be a user-assigned identity's resource id", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);

        service.Identity = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-shadow";
        service.MinReplicas = 0;
        Assert.Contains("MinReplicas at least 1", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);

        service.MinReplicas = 1;
        service.Environment["DB"] = "Host=shadow-db";
        service.Secrets["DB"] = new KeyVaultSecretReference { KeyVaultUrl = "https://shadow-kv.vault.azure.net/secrets/orders-db" };
        Assert.Contains("'DB' is set under both Environment and Secrets", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);

        service.Environment.Remove("DB");
        Assert.Null(ContainerAppsProvisioner.Problem(options));
    }

    [Fact]
    public void Problem_AZeroPollInterval_IsRefused_NamingIt()
    {
        var options = new ContainerAppsProvisionerOptions { SubscriptionId = ArmStub.Subscription, ResourceGroup = "rg", Services = { ["orders"] = new ContainerAppsServiceOptions { ProductionApp = "orders" } } };
        Assert.Null(ContainerAppsProvisioner.Problem(options));

        options.PollInterval = TimeSpan.Zero; // on the real clock every wait would return at once: ARM asked in a tight loop
        Assert.Contains("ContainerApps:PollInterval", ContainerAppsProvisioner.Problem(options), StringComparison.Ordinal);
    }

    private ContainerAppsProvisioner Provisioner(TimeSpan? timeout = null, ArmStub? arm = null) => new(
        new ContainerAppsProvisionerOptions
        {
            SubscriptionId = ArmStub.Subscription,
            ResourceGroup = "rg",
            PollInterval = TimeSpan.Zero,
            Timeout = timeout ?? TimeSpan.FromMinutes(15),
            Services = { ["orders"] = new ContainerAppsServiceOptions { ProductionApp = "orders" } },
        },
        _credential,
        _time,
        (arm ?? _arm).ClientOptions());

    [Fact]
    public async Task Provision_ReadsProduction_PutsTheShadow_FollowsTheOperation_WaitsForTheRevisionToRun()
    {
        _arm.On("GET", App(Name), HttpStatusCode.NotFound, ArmShapes.Error("ResourceNotFound", "not found"))
            .On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("PUT", App(Name), HttpStatusCode.Created, ArmShapes.Started(Name), new Dictionary<string, string> { ["Azure-AsyncOperation"] = ArmShapes.OperationUrl });
        _arm.On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("InProgress"))
            .On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("Succeeded"));
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Processing", "None"))
            .On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Running"));

        var shadow = await Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources(Size: 2)), Ct);

        Assert.Equal(
        [
            $"GET {App(Name)}", $"GET {App("orders")}", $"PUT {App(Name)}",
            $"GET {ArmShapes.OperationPath}", $"GET {ArmShapes.OperationPath}",
            $"GET {App(Name)}", $"GET {App(Name)}/revisions/{Name}--r1",
            $"GET {App(Name)}", $"GET {App(Name)}/revisions/{Name}--r1",
        ], _arm.Sequence);
        Assert.All(_arm.Requests, r => Assert.Equal("Bearer stub-token", r.Authorization));
        Assert.All(_arm.Requests.Where(r => r.PathAndQuery.StartsWith(ArmStub.AppsPath, StringComparison.Ordinal)), r => Assert.EndsWith(Api, r.PathAndQuery, StringComparison.Ordinal));
        Assert.Equal(["https://management.azure.com/.default"], _credential.Scopes.Distinct());
        Assert.Equal(($"dapr://{Name}", $"{Name}--r1"), (shadow.Address, shadow.Handle));
        Assert.Contains(shadow.Notes, n => n.Contains("secret orders-db", StringComparison.Ordinal));

        // What reached Azure: the production connection-string secret and its value-bearing variables did not.
        var put = _arm.Requests.Single(r => r.Method == "PUT").Body!;
        Assert.DoesNotContain("orders-db", put, StringComparison.Ordinal);
        Assert.DoesNotContain("ConnectionStrings__Orders", put, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", put, StringComparison.Ordinal);
        Assert.Contains("\"shadowing-size\":\"2\"", put, StringComparison.Ordinal);
        Assert.Contains("\"cpu\":1", put, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_Again_AtTheSameSize_PutsNothing()
    {
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Running"));

        var shadow = await Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct);

        Assert.DoesNotContain(_arm.Requests, r => r.Method == "PUT");
        Assert.Contains(shadow.Notes, n => n.Contains("secret orders-db", StringComparison.Ordinal)); // what the first run said
        Assert.Equal(($"dapr://{Name}", 1, new DateTimeOffset(2026, 12, 2, 11, 30, 0, TimeSpan.Zero)), (shadow.Address, shadow.Resources.Size, shadow.StartedAt));
    }

    [Fact]
    public async Task Provision_Again_WhenTheAppFailed_PutsItAgain()
    {
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1, provisioningState: "Failed"))
            .On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("PUT", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Running"));

        await Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct);

        Assert.Single(_arm.Requests, r => r.Method == "PUT");
    }

    [Fact]
    public async Task Resize_PutsTheNewSizeEvenThoughTheAppExists()
    {
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("PUT", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 3)); // 200: no operation to follow
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 3));
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "RunningAtMaxScale"));

        var shadow = await Provisioner().ResizeAsync(new ProvisionSpec("orders", Shadow, new ShadowResources(Size: 3)), Ct);

        Assert.Equal(3, shadow.Resources.Size);
        Assert.Contains("\"cpu\":1.5", _arm.Requests.Single(r => r.Method == "PUT").Body!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_RevisionFails_IsAProvisioningExceptionWithAzuresReason()
    {
        _arm.On("GET", App(Name), HttpStatusCode.NotFound).On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("PUT", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Failed", "Unhealthy", "image pull failed: unauthorized"));

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct));

        Assert.Contains($"revision {Name}--r1 is Failed: image pull failed: unauthorized", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_OperationFails_IsAProvisioningExceptionWithTheErrorCode()
    {
        _arm.On("GET", App(Name), HttpStatusCode.NotFound);
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("PUT", App(Name), HttpStatusCode.Created, ArmShapes.Started(Name), new Dictionary<string, string> { ["Azure-AsyncOperation"] = ArmShapes.OperationUrl });
        _arm.On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("Failed"));

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct));

        Assert.Contains("the operation ended Failed: ContainerAppImagePullFailure unauthorized", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_RevisionNeverRuns_TimesOutNamingTheSetting()
    {
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Processing", "None"));

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner(TimeSpan.FromMinutes(1)).ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct));

        Assert.Contains("Shadowing:Provisioning:ContainerApps:Timeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_ArmRefuses_IsAProvisioningExceptionWithCodeAndMessage()
    {
        _arm.On("GET", App(Name), HttpStatusCode.Forbidden, ArmShapes.Error("AuthorizationFailed", "The client does not have authorization to perform action 'Microsoft.App/containerApps/read'."));

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct));

        Assert.Contains("Azure answered 403 AuthorizationFailed: The client does not have authorization", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_UnknownService_NamesTheSetting()
    {
        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().ProvisionAsync(new ProvisionSpec("payments", Shadow, new ShadowResources()), Ct));

        Assert.Contains("Shadowing:Provisioning:ContainerApps:Services:payments:ProductionApp", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retire_DeletesAndFollowsTheOperation_GoneAlreadyIsFine()
    {
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1))
            .On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1))
            .On("GET", App(Name), HttpStatusCode.NotFound, ArmShapes.Error("ResourceNotFound", "not found"));
        _arm.On("DELETE", App(Name), HttpStatusCode.Accepted, null, new Dictionary<string, string> { ["Azure-AsyncOperation"] = ArmShapes.OperationUrl })
            .On("DELETE", App(Name), HttpStatusCode.NoContent);
        _arm.On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("InProgress")).On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("Succeeded"));
        _arm.On("GET", ArmStub.AppsPath, HttpStatusCode.OK, ArmShapes.Page(null, ArmShapes.ProductionApp()));

        await Provisioner().RetireAsync("orders", Shadow, Ct);
        await Provisioner().RetireAsync("orders", Shadow, Ct); // gone between the read and the DELETE: 204, "Container App does not exist."
        await Provisioner().RetireAsync("orders", Shadow, Ct); // gone before the read, and no app is tagged as it: nothing to delete

        Assert.Equal(
        [
            $"GET {App(Name)}", $"DELETE {App(Name)}", $"GET {ArmShapes.OperationPath}", $"GET {ArmShapes.OperationPath}",
            $"GET {App(Name)}", $"DELETE {App(Name)}",
            $"GET {App(Name)}", $"GET {ArmStub.AppsPath}",
        ], _arm.Sequence);
    }

    [Fact]
    public async Task Retire_AnAppNamedUnderAnEarlierProductionApp_OrOfAServiceNoLongerInTheSettings_IsFoundByItsTags()
    {
        const string Legacy = "orders-v1-" + Shadow; // ProductionApp was orders-v1 when it was made
        _arm.On("GET", App(Name), HttpStatusCode.NotFound, ArmShapes.Error("ResourceNotFound", "not found"));
        var billing = ArmShapes.ShadowApp("billing-s9", "s9", size: 1);
        billing["tags"]![ShadowAppTemplate.ServiceTag] = "billing";
        _arm.On("GET", ArmStub.AppsPath, HttpStatusCode.OK, ArmShapes.Page(null, ArmShapes.ProductionApp(), ArmShapes.ShadowApp(Legacy, Shadow, size: 1), billing));
        _arm.On("DELETE", App(Legacy), HttpStatusCode.NoContent);
        _arm.On("DELETE", App("billing-s9"), HttpStatusCode.NoContent);

        await Provisioner().RetireAsync("orders", Shadow, Ct);
        await Provisioner().RetireAsync("billing", "s9", Ct);

        Assert.Contains($"DELETE {App(Legacy)}", _arm.Sequence);
        Assert.Contains($"DELETE {App("billing-s9")}", _arm.Sequence);
    }

    [Fact]
    public async Task List_AnAppWithoutAnAddressYet_IsListedSoTheSweepSeesIt_NotAFailureOfTheWholeList()
    {
        var creating = ArmShapes.ShadowApp("orders-s3", "s3", size: 1);
        creating["properties"]!["configuration"]!.AsObject().Remove("dapr");
        creating["properties"]!["configuration"]!.AsObject().Remove("ingress"); // neither yet: it is being created
        _arm.On("GET", ArmStub.AppsPath, HttpStatusCode.OK, ArmShapes.Page(null, creating, ArmShapes.ShadowApp(Name, Shadow, size: 1)));

        var listed = await Provisioner().ListAsync(Ct);

        Assert.Equal([("s3", ""), (Shadow, $"dapr://{Name}")], listed.Select(l => (l.ShadowId, l.Address)));
    }

    [Fact]
    public async Task Retire_WithALocationHeader_PollsItUntilItStopsAnswering202()
    {
        const string Location = $"https://management.azure.com/subscriptions/{ArmStub.Subscription}/providers/Microsoft.App/locations/eastus/containerappOperationResults/62e4d893";
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("DELETE", App(Name), HttpStatusCode.Accepted, null, new Dictionary<string, string> { ["Location"] = Location });
        _arm.On("GET", new Uri(Location).AbsolutePath, HttpStatusCode.Accepted).On("GET", new Uri(Location).AbsolutePath, HttpStatusCode.NoContent);

        await Provisioner().RetireAsync("orders", Shadow, Ct);

        Assert.Equal(4, _arm.Requests.Count);
    }

    [Fact]
    public async Task AnAppUnderTheShadowsName_ThatIsNotThatShadow_IsNeverPutOrDeleted()
    {
        var stranger = ArmShapes.ShadowApp(Name, Shadow, size: 1);
        stranger.Remove("tags"); // some other app of the resource group that happens to have the name
        _arm.On("GET", App(Name), HttpStatusCode.OK, stranger);

        var provision = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct));
        var resize = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().ResizeAsync(new ProvisionSpec("orders", Shadow, new ShadowResources(Size: 2)), Ct));
        var retire = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().RetireAsync("orders", Shadow, Ct));
        var find = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner().FindAsync("orders", Shadow, Ct));

        Assert.All([provision, resize, retire, find], e => Assert.Contains($"Container app {Name} exists and is not a shadow", e.Message, StringComparison.Ordinal));
        Assert.All(_arm.Requests, r => Assert.Equal("GET", r.Method));

        // Another shadow's app is left alone too.
        var other = new ArmStub();
        other.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, "S20261202T1400-1", size: 1));
        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner(arm: other).RetireAsync("orders", Shadow, Ct));
        Assert.Contains($"is shadow orders/S20261202T1400-1, not orders/{Shadow}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resize_WhileAnotherOperationRuns_WaitsOutAzures409_ThenPuts()
    {
        var busy = ArmShapes.Error("ContainerAppOperationInProgress", "Cannot modify a container app 'orders-s20261202t1400-1' because there is an operation in progress.");
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 2));
        _arm.On("PUT", App(Name), HttpStatusCode.Conflict, busy, new Dictionary<string, string> { ["Retry-After"] = "5" })
            .On("PUT", App(Name), HttpStatusCode.Conflict, busy)
            .On("PUT", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 3));
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Running"));

        var started = _time.GetUtcNow();
        var resize = Provisioner().ResizeAsync(new ProvisionSpec("orders", Shadow, new ShadowResources(Size: 3)), Ct);
        while (!resize.IsCompleted)
        {
            _time.Advance(TimeSpan.FromSeconds(1)); // Retry-After waits on the clock
            await Task.Delay(TimeSpan.FromMilliseconds(1), TimeProvider.System, Ct);
        }

        await resize;
        Assert.Equal(3, _arm.Requests.Count(r => r.Method == "PUT"));
        Assert.True(_time.GetUtcNow() - started >= TimeSpan.FromSeconds(5), "Retry-After was not waited out");
    }

    [Fact]
    public async Task Retire_StillConflictingAtTheTimeout_FailsWithAzuresError_NamingTheSetting()
    {
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("DELETE", App(Name), HttpStatusCode.Conflict, ArmShapes.Error("ContainerAppOperationInProgress", "there is an operation in progress"));

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner(TimeSpan.FromMinutes(1)).RetireAsync("orders", Shadow, Ct));

        Assert.Contains("409 ContainerAppOperationInProgress: there is an operation in progress", error.Message, StringComparison.Ordinal);
        Assert.Contains("Shadowing:Provisioning:ContainerApps:Timeout", error.Message, StringComparison.Ordinal);

        // A conflict that is not a busy app is final: one DELETE, Azure's reason.
        var other = new ArmStub();
        other.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        other.On("DELETE", App(Name), HttpStatusCode.Conflict, ArmShapes.Error("ScopeLocked", "The scope cannot perform delete operation because following scope(s) are locked"));
        var locked = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner(arm: other).RetireAsync("orders", Shadow, Ct));
        Assert.Contains("Azure answered 409 ScopeLocked: The scope cannot perform delete", locked.Message, StringComparison.Ordinal);
        Assert.Single(other.Requests, r => r.Method == "DELETE");
    }

    [Fact]
    public async Task Timeout_IsOneBudgetForTheWholeCall_NotOnePerWait()
    {
        // The operation takes most of the budget; the revision then never runs. The call ends at the budget, not at
        // the operation's time plus a whole budget more for the revision.
        _arm.On("GET", App(Name), HttpStatusCode.NotFound, ArmShapes.Error("ResourceNotFound", "not found"))
            .On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 1));
        _arm.On("GET", App("orders"), HttpStatusCode.OK, ArmShapes.ProductionApp());
        _arm.On("PUT", App(Name), HttpStatusCode.Created, ArmShapes.Started(Name), new Dictionary<string, string> { ["Azure-AsyncOperation"] = ArmShapes.OperationUrl });
        for (var i = 0; i < 40; i++)
        {
            _arm.On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("InProgress")); // each poll reads the clock once: 1 s
        }

        _arm.On("GET", ArmShapes.OperationPath, HttpStatusCode.OK, ArmShapes.Operation("Succeeded"));
        _arm.On("GET", $"{App(Name)}/revisions/{Name}--r1", HttpStatusCode.OK, ArmShapes.Revision($"{Name}--r1", "Processing", "None"));
        var started = _time.GetUtcNow();

        await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner(TimeSpan.FromMinutes(2)).ProvisionAsync(new ProvisionSpec("orders", Shadow, new ShadowResources()), Ct));

        Assert.Contains(_arm.Requests, r => r.PathAndQuery.Contains("/revisions/", StringComparison.Ordinal)); // it got as far as the revision
        Assert.InRange(_time.GetUtcNow() - started, TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(2.2));
    }

    [Fact]
    public async Task FindAndList_ReadTheShadowAppsBackFromTheirTags_FollowingNextLink()
    {
        const string Next = $"https://management.azure.com{ArmStub.AppsPath}?api-version=2024-03-01&$skiptoken=2";
        _arm.On("GET", App(Name), HttpStatusCode.OK, ArmShapes.ShadowApp(Name, Shadow, size: 2));
        _arm.On("GET", App("orders-s2"), HttpStatusCode.NotFound);
        _arm.On("GET", ArmStub.AppsPath, HttpStatusCode.OK, ArmShapes.Page(Next, ArmShapes.ProductionApp(), ArmShapes.ShadowApp(Name, Shadow, size: 2)))
            .On("GET", ArmStub.AppsPath, HttpStatusCode.OK, ArmShapes.Page(null, ArmShapes.ShadowApp("orders-s20261202t1400-2", "s20261202t1400-2", size: 1)));

        var found = await Provisioner().FindAsync("orders", Shadow, Ct);
        var missing = await Provisioner().FindAsync("orders", "s2", Ct);
        var listed = await Provisioner().ListAsync(Ct);

        Assert.Equal(("orders", Shadow, 2, $"dapr://{Name}"), (found!.Service, found.ShadowId, found.Resources.Size, found.Address));
        Assert.Null(missing);
        Assert.Equal([Shadow, "s20261202t1400-2"], listed.Select(s => s.ShadowId)); // the production app is not a shadow
        Assert.EndsWith("$skiptoken=2", _arm.Requests.Last().PathAndQuery, StringComparison.Ordinal);
    }
}
