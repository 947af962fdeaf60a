using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Dapr.State;
using Shadowing.Embedded.State;
using Shadowing.Embedded.Workflows;

namespace Shadowing.Hosting.Tests;

public sealed class ShadowingModeTests
{
    [Theory]
    [InlineData(null, null, ShadowingMode.Embedded)]
    [InlineData(null, "50001", ShadowingMode.Dapr)]
    [InlineData("Embedded", "50001", ShadowingMode.Embedded)]
    [InlineData("dapr", null, ShadowingMode.Dapr)]
    public void Mode_ResolvesFromSettingAndSidecarEnvironment(string? mode, string? grpcPort, ShadowingMode expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Mode"] = mode, ["DAPR_GRPC_PORT"] = grpcPort }).Build();

        Assert.Equal(expected, ShadowingModeExtensions.Resolve(configuration));
    }

    [Fact]
    public void Mode_Unknown_FailsNamingTheKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Mode"] = "Kubernetes" }).Build();

        var error = Assert.Throws<InvalidOperationException>(() => ShadowingModeExtensions.Resolve(configuration));

        Assert.Contains("Shadowing:Mode is 'Kubernetes'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ShadowingMode.Embedded, typeof(SqliteStateStore), true)]
    [InlineData(ShadowingMode.Dapr, typeof(DaprStateStore), false)]
    public async Task Adapters_AndWorkflowRuntime_FollowTheMode(ShadowingMode mode, Type store, bool embeddedBackend)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Mode"] = mode.ToString(),
            ["Shadowing:Embedded:StatePath"] = ":memory:",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);

        Assert.Equal(mode, services.AddShadowingAdapters(configuration));
        services.AddShadowingWorkflowRuntime(configuration, mode, _ => { });
        await using var provider = services.BuildServiceProvider();

        Assert.IsType(store, provider.GetRequiredService<IStateStore>());
        Assert.Same(provider.GetRequiredService<DaprWorkflowClient>(), provider.GetRequiredService<IDaprWorkflowClient>()); // Dapr.Workflow registers only the class
        Assert.Equal(embeddedBackend, services.Any(d => d.ServiceType == typeof(EmbeddedWorkflowBackend)));

        // Either way, payloads and custom status are the product's JSON: a shadow's state reads as its name.
        var serializer = provider.GetRequiredService<global::Dapr.Common.Serialization.IDaprSerializer>();
        Assert.Equal("\"PreWarmed\"", serializer.Serialize(ShadowState.PreWarmed));
        Assert.Equal(ShadowState.PreWarmed, serializer.Deserialize<ShadowState>(((int)ShadowState.PreWarmed).ToString(System.Globalization.CultureInfo.InvariantCulture))); // a history written before
    }
}
