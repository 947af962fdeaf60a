using Dapr.Workflow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Shadowing.Embedded.Workflows.Tests;

/// <summary>A host running the real Dapr.Workflow worker and client on the embedded backend, over a given state file.</summary>
internal sealed class WorkflowHost : IAsyncDisposable
{
    private WorkflowHost(IHost host) => Host = host;

    public IHost Host { get; }

    public DaprWorkflowClient Client => Host.Services.GetRequiredService<DaprWorkflowClient>();

    public EmbeddedWorkflowBackend Backend => Host.Services.GetRequiredService<EmbeddedWorkflowBackend>();

    public Probe Probe => Host.Services.GetRequiredService<Probe>();

    public static async Task<WorkflowHost> StartAsync(string statePath, Probe? probe = null, TimeProvider? time = null, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        var configuration = new Dictionary<string, string?> { [EmbeddedWorkflowOptions.Section + ":StatePath"] = statePath };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddSingleton(probe ?? new Probe());
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddEmbeddedDaprWorkflows(builder.Configuration, TestWorkflows.Register);
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new WorkflowHost(host);
    }

    /// <summary>Schedules an instance and waits for it to end.</summary>
    public async Task<WorkflowState> RunAsync(string workflow, object? input, string? instanceId = null) =>
        await CompletionAsync(await Client.ScheduleNewWorkflowAsync(workflow, instanceId, input));

    /// <summary>Waits for an instance to end; fails the test after a minute rather than hang.</summary>
    public async Task<WorkflowState> CompletionAsync(string instanceId)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        return await Client.WaitForWorkflowCompletionAsync(instanceId, cancellation: timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync(CancellationToken.None);
        Host.Dispose();
    }
}
