using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Shadows;
using Shadowing.Embedded.Provisioning;
using Shadowing.TestUtilities.State;

namespace Shadowing.Embedded.Tests.Provisioning;

public sealed class LocalProcessProvisionerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Expand_FillsEveryPlaceholder()
    {
        var spec = new ProvisionSpec("orders", "orders-shadow-1", new ShadowResources(Size: 2, AddedLatencyMs: 12.5, ErrorRate: 0.01));

        Assert.Equal(
            "--service orders --id orders-shadow-1 --port 5123 --size 2 --latency 12.5 --errors 0.01",
            LocalProcessProvisioner.Expand("--service {service} --id {shadowId} --port {port} --size {size} --latency {latencyMs} --errors {errorRate}", spec, 5123));
    }

    [Fact]
    public async Task Provision_NoTemplateForTheService_FailsNamingTheSetting()
    {
        await using var provisioner = new LocalProcessProvisioner(new InMemoryStateStore(), Options.Create(new LocalProvisionerOptions()), TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance);

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct));

        Assert.Contains("Shadowing:Provisioning:Local:Services:orders", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provision_CommandThatExits_FailsSayingSo()
    {
        var options = new LocalProvisionerOptions();
        options.Services["orders"] = new LocalServiceTemplate { Command = "dotnet", Arguments = ["--no-such-option"], StartTimeout = TimeSpan.FromSeconds(20) };
        await using var provisioner = new LocalProcessProvisioner(new InMemoryStateStore(), Options.Create(options), TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance);

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct));

        Assert.Contains("Shadow 's1' of 'orders' exited with code", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Alive_AStartTimeReadByAnotherProcess_AFewMillisecondsOff_StillNamesTheProcess_AnHourOffDoesNot()
    {
        // On Linux each process estimates the boot time its start times count from: the workflows host restarted reads a
        // surviving shadow's start time a millisecond or two away from the one in its handle.
        using var sleeper = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            var started = sleeper.StartTime.ToUniversalTime().Ticks;
            string Handle(TimeSpan off) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{sleeper.Id}@{started + off.Ticks}");

            using var found = LocalProcessProvisioner.Alive(Handle(TimeSpan.FromMilliseconds(3)));
            Assert.Equal(sleeper.Id, found?.Id);
            Assert.Null(LocalProcessProvisioner.Alive(Handle(TimeSpan.FromHours(-1)))); // the pid of another process since
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Theory]
    [InlineData("DAPR_API_TOKEN", true)]
    [InlineData("DAPR_GRPC_PORT", true)]
    [InlineData("APP_API_TOKEN", true)]
    [InlineData("AZURE_CLIENT_SECRET", true)]
    [InlineData("IDENTITY_ENDPOINT", true)]
    [InlineData("Shadowing__Control__AdminToken", true)]
    [InlineData("ConnectionStrings__Orders", true)]
    [InlineData("STRIPE_API_KEY", true)]
    [InlineData("db_password", true)]
    [InlineData("Router__Alerts__WebhookUrl", true)]
    [InlineData("DATABASE_URL", true)]
    [InlineData("SENTRY_DSN", true)]
    [InlineData("PATH", false)]
    [InlineData("HOME", false)]
    [InlineData("DOTNET_ROOT", false)]
    [InlineData("ASPNETCORE_ENVIRONMENT", false)]
    public void IsWithheld_SidecarCoordinatesIdentitiesAndCredentials_NotTheRest(string name, bool withheld) =>
        Assert.Equal(withheld, LocalProcessProvisioner.IsWithheld(name));

    [Theory]
    [InlineData("REDIS_URL", "redis://default:s3cret@prod-cache:6379/0", true)] // production's cache, password and all
    [InlineData("ORDERS_API", "https://svc:pw@orders.internal/", true)]
    [InlineData("ORDERS_API", "https://orders.internal/", false)]
    [InlineData("MAINTAINER", "ops@example.com", false)]
    public void IsWithheld_AValueThatIsAUrlWithAUserAndPassword(string name, string value, bool withheld) =>
        Assert.Equal(withheld, LocalProcessProvisioner.IsWithheld(name, value));

    [Fact]
    public async Task Provision_TheShadowGetsNoCredentialOfTheHost_ButWhatItsTemplateSets()
    {
        Environment.SetEnvironmentVariable("SHADOWING_TEST_PAYMENTS_SECRET", "s3cret"); // names used by no other test
        Environment.SetEnvironmentVariable("SHADOWING_TEST_PLAIN", "kept");
        var file = Path.Combine(Path.GetTempPath(), $"shadow-env-{Guid.NewGuid():N}.txt");
        var options = new LocalProvisionerOptions();
        options.Services["orders"] = new LocalServiceTemplate
        {
            Command = "sh",
            Arguments = ["-c", $"env > '{file}'"],
            Environment = { ["FEATURE_TOKEN"] = "given by the template" },
            StartTimeout = TimeSpan.FromSeconds(20),
        };
        await using var provisioner = new LocalProcessProvisioner(new InMemoryStateStore(), Options.Create(options), TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance);
        try
        {
            await Assert.ThrowsAsync<ProvisioningException>(() => provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct)); // it only writes its environment and exits

            var environment = await File.ReadAllLinesAsync(file, Ct);
            Assert.Contains("SHADOWING_TEST_PLAIN=kept", environment);
            Assert.Contains("FEATURE_TOKEN=given by the template", environment);
            Assert.Contains(environment, line => line.StartsWith("PATH=", StringComparison.Ordinal));
            Assert.DoesNotContain(environment, line => line.StartsWith("SHADOWING_TEST_PAYMENTS_SECRET=", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Settings_ATemplateWithoutACommand_AreRefusedNamingTheSetting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Provisioning:Local:Services:orders:Arguments:0"] = "--port",
            ["Shadowing:Provisioning:Local:Services:orders:StartTimeout"] = "00:00:00",
        }).Build();
        using var services = new ServiceCollection().AddLocalProcessProvisioner(configuration).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => (object)services.GetRequiredService<IOptions<LocalProvisionerOptions>>().Value);

        Assert.Contains("Shadowing:Provisioning:Local:Services:orders:Command is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("Shadowing:Provisioning:Local:Services:orders:StartTimeout must be positive", error.Message, StringComparison.Ordinal);
    }
}
