using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Shadowing.Core.Data;
using Shadowing.Core.State;
using Shadowing.Dapr.State;

namespace Shadowing.Workflows.Tests;

public sealed class WorkflowsHostTests
{
    [Fact]
    public async Task AddShadowingWorkflows_RegistersDaprAdaptersWorkflowClientAndWorker()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Mode"] = "Dapr" }).Build();
        var services = new ServiceCollection().AddLogging().AddShadowingWorkflows(configuration);
        await using var provider = services.BuildServiceProvider();

        Assert.IsType<DaprStateStore>(provider.GetRequiredService<IStateStore>());
        Assert.NotNull(provider.GetRequiredService<DaprWorkflowClient>());

        // What the host resolves at start: every hosted service (the intake, the reconciler and the verdict relay take
        // IDaprWorkflowClient, which Dapr.Workflow itself does not register) and the control API's workflow control.
        Assert.NotEmpty(provider.GetServices<IHostedService>());
        Assert.NotNull(provider.GetRequiredService<Shadowing.Control.Workflows.IWorkflowControl>());
    }

    [Fact]
    public void AddShadowingWorkflows_WithDapr_FeedsDataSyncFromTheOutboxTopicsOfServicesWhoseShadowsGetData()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Mode"] = "Dapr",
            ["Shadowing:Sep:Data:orders:Mode"] = "Differential",
            ["Shadowing:Sep:Data:billing:Mode"] = "timeshifted",
            ["Shadowing:Sep:Data:search:Mode"] = "None",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddShadowingWorkflows(configuration);
        using var provider = services.BuildServiceProvider();

        var feed = Assert.IsType<OutboxChangeFeed>(provider.GetRequiredService<IChangeFeed>());
        Assert.Equal(["billing", "orders"], feed.Services);
        Assert.Contains(services, d => d.ImplementationType == typeof(OutboxChangeSubscription));
        Assert.IsType<DaprProductionData>(provider.GetRequiredService<Shadowing.Core.Data.IProductionData>()); // data-{service}, not statestore
    }

    [Fact]
    public void AddShadowingWorkflows_MisspeltSetting_FailsNamingIt_WhileEverySettingDaprYamlGivesBinds()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Shadowing:Mode"] = "Dapr",
            ["Shadowing:Provisioning:Kind"] = "Dapr",
            ["Shadowing:Provisioning:Dapr:AppId"] = "provisioner",
            ["Shadowing:Provisioning:Local:Services:orders:Command"] = "dotnet",
            ["Shadowing:Provisioning:Local:Services:orders:Arguments:0"] = "shadowing.dll",
            ["Shadowing:Sep:Data:orders:Mode"] = "Differential",
            ["Shadowing:Sep:GuardRails:MaxShadowsPerService"] = "4",
            ["Pae:HolidayCountry"] = "DE", // the Functions app's: not judged here
            ["Shadowing:Admin:Urls"] = "http://127.0.0.1:5070", // up's, from a shared shell
            ["Shadowing:Embedded:StatePath"] = ".shadowing/state.db", // the embedded mode's, not read with Dapr
        };
        new ServiceCollection().AddLogging().AddShadowingWorkflows(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        settings["Shadowing:Sep:GuardRails:MaxShadowz"] = "4";
        settings["Shadowing:Sep:WarmupTme"] = "00:10:00";

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(
            () => new ServiceCollection().AddLogging().AddShadowingWorkflows(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()));

        Assert.Equal(
            ["Shadowing:Sep:GuardRails:MaxShadowz is not a setting of the workflows app: check its spelling against the README's table.",
             "Shadowing:Sep:WarmupTme is not a setting of the workflows app: check its spelling against the README's table."],
            error.Failures);
    }

    [Fact]
    public void DataSettings_AValueThatDoesNotConvert_IsThatServicesValidationFailure_NamingTheKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Mode"] = "Embedded",
            ["Shadowing:Embedded:StatePath"] = ":memory:",
            ["Shadowing:Sep:Data:orders:Mode"] = "TimeShifted",
            ["Shadowing:Sep:Data:orders:Shift"] = "1h",
            ["Shadowing:Sep:Data:billing:Mode"] = "Differential",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddShadowingWorkflows(configuration).BuildServiceProvider();
        var options = provider.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<ShadowDataOptions>>();

        // ShadowDataService's tick skips a service whose settings fail validation and goes on with the others (its own test).
        var failure = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => options.Get("orders"));
        Assert.Contains("Shadowing:Sep:Data:orders:Shift", failure.Message, StringComparison.Ordinal);
        Assert.Equal(DataSyncMode.Differential, options.Get("billing").Mode);
    }

    [Fact]
    public void DataSettings_MaskFieldsGivenAsOneValue_IsReadAsACommaSeparatedList()
    {
        // As an environment variable sets it (Shadowing__Sep__Data__orders__MaskFields=address): the binder left the list empty.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Mode"] = "Embedded",
            ["Shadowing:Embedded:StatePath"] = ":memory:",
            ["Shadowing:Sep:Data:orders:Mode"] = "Differential",
            ["Shadowing:Sep:Data:orders:MaskFields"] = "address, loyaltyId",
            ["Shadowing:Sep:Data:billing:Mode"] = "Differential",
            ["Shadowing:Sep:Data:billing:MaskFields:0"] = "iban",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddShadowingWorkflows(configuration).BuildServiceProvider();
        var options = provider.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<ShadowDataOptions>>();

        Assert.Equal(["address", "loyaltyId"], options.Get("orders").MaskFields);
        Assert.Equal(["iban"], options.Get("billing").MaskFields);
    }

    [Theory]
    [InlineData("Diferential")]
    [InlineData("7")] // the binder would take an enum's number
    [InlineData("None, Differential")] // or a flags list
    public void DataSettings_AMisspeltMode_StopsTheStart_NamingTheKeyAndTheModes(string mode)
    {
        // It used to pass the start and fail every shadow of the service at its data sync, after the retries.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Mode"] = "Embedded",
            ["Shadowing:Embedded:StatePath"] = ":memory:",
            ["Shadowing:Sep:Data:orders:Mode"] = mode,
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration).AddShadowingWorkflows(configuration).BuildServiceProvider();

        var failure = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<Microsoft.Extensions.Options.IStartupValidator>().Validate());

        Assert.Equal([$"Shadowing:Sep:Data:orders:Mode is '{mode}'; use one of None, Differential, TimeShifted, Synthetic."], failure.Failures);
    }
}

/// <summary>The workflows host as the Functions app reaches it (Dapr-invoked): its control routes behind the app token.</summary>
public sealed class WorkflowsHostControlTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ControlRoutes_ServedOnTheAppPort_OnlyWithDaprsAppToken()
    {
        var folder = Directory.CreateTempSubdirectory("shadowing-workflows-host-").FullName;
        try
        {
            await using var app = await Shadowing.TestUtilities.Hosting.LoopbackApp.StartAsync(
                builder =>
                {
                    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                    {
                        ["Shadowing:Mode"] = "Embedded",
                        ["Shadowing:Embedded:StatePath"] = Path.Combine(folder, "state.db"),
                        ["APP_API_TOKEN"] = "app-secret",
                    });
                    builder.Services.AddShadowingWorkflows(builder.Configuration);
                },
                app => app.MapShadowingWorkflows());
            using var http = new HttpClient { BaseAddress = Shadowing.TestUtilities.Hosting.LoopbackApp.AddressOf(app) };

            using var anonymous = await http.GetAsync(new Uri("/api/workflows/shadows-orders-x", UriKind.Relative), Ct);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/workflows/shadows-orders-x", UriKind.Relative));
            request.Headers.Add("dapr-api-token", "app-secret");
            using var fromDaprd = await http.SendAsync(request, Ct);

            using var shadows = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/services/orders/shadows", UriKind.Relative));
            shadows.Headers.Add("dapr-api-token", "app-secret");
            using var notHere = await http.SendAsync(shadows, Ct);

            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, fromDaprd.StatusCode); // reached the handler: no such instance
            Assert.Equal(System.Net.HttpStatusCode.NotFound, notHere.StatusCode); // only the workflow routes are mapped here
            Assert.Equal("application/problem+json", fromDaprd.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
