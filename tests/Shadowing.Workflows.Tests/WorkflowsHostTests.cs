using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Shadowing.Core.State;
using Shadowing.Dapr.State;

namespace Shadowing.Workflows.Tests;

public sealed class WorkflowsHostTests
{
    [Fact]
    public void AddShadowingWorkflows_RegistersDaprAdaptersWorkflowClientAndWorker()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Mode"] = "Dapr" }).Build();
        var services = new ServiceCollection().AddLogging().AddShadowingWorkflows(configuration);
        using var provider = services.BuildServiceProvider();

        Assert.IsType<DaprStateStore>(provider.GetRequiredService<IStateStore>());
        Assert.NotNull(provider.GetRequiredService<DaprWorkflowClient>());
        Assert.Contains(services, d => d.ServiceType == typeof(IHostedService));
    }
}
