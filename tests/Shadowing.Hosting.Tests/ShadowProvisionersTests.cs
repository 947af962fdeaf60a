using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.ContainerApps;
using Shadowing.Core.Shadows;
using Shadowing.Dapr.Provisioning;
using Shadowing.Embedded.Provisioning;

namespace Shadowing.Hosting.Tests;

public sealed class ShadowProvisionersTests
{
    [Theory]
    [InlineData(null, typeof(LocalProcessProvisioner))]
    [InlineData("local", typeof(LocalProcessProvisioner))]
    [InlineData("Dapr", typeof(DaprInvokedProvisioner))]
    [InlineData("ContainerApps", typeof(ContainerAppsProvisioner))]
    public async Task Kind_ChoosesTheProvisioner(string? kind, Type expected)
    {
        var configuration = Configuration(new()
        {
            [ShadowProvisioners.KindKey] = kind,
            ["Shadowing:Provisioning:Dapr:AppId"] = "platform-provisioner",
            ["Shadowing:Provisioning:ContainerApps:SubscriptionId"] = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345",
            ["Shadowing:Provisioning:ContainerApps:ResourceGroup"] = "rg",
            ["Shadowing:Provisioning:ContainerApps:Services:orders:ProductionApp"] = "orders",
        });
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(Substitute.For<Shadowing.Core.State.IStateStore>()); // the local provisioner records its processes
        await using var provider = services.AddShadowingProvisioner(configuration).BuildServiceProvider();

        Assert.IsType(expected, provider.GetRequiredService<IShadowProvisioner>());
    }

    [Theory]
    [InlineData("Kubernetes", null, "Shadowing:Provisioning:Kind is 'Kubernetes'; use Local, Dapr or ContainerApps.")]
    [InlineData("Dapr", null, "Shadowing:Provisioning:Dapr:AppId is not set")]
    [InlineData("ContainerApps", null, "Shadowing:Provisioning:ContainerApps:SubscriptionId is not set.")]
    [InlineData("ContainerApps", "sub", "Shadowing:Provisioning:ContainerApps:Services:orders:ProductionApp is not set")]
    public void Misconfigured_FailsNamingTheSetting(string kind, string? subscription, string expected)
    {
        var configuration = Configuration(new()
        {
            [ShadowProvisioners.KindKey] = kind,
            ["Shadowing:Provisioning:ContainerApps:SubscriptionId"] = subscription,
            ["Shadowing:Provisioning:ContainerApps:ResourceGroup"] = "rg",
            ["Shadowing:Provisioning:ContainerApps:Services:orders:MinReplicas"] = "1",
        });

        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddShadowingProvisioner(configuration));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) => new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
