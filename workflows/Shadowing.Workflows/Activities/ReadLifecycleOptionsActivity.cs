using Dapr.Workflow;
using Microsoft.Extensions.Options;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Activities;

/// <summary>
/// Gives the workflow its settings. Workflows get no dependency injection, and configuration read directly would change
/// under a replay; an activity's result is recorded in the instance's history, so a running instance keeps the settings
/// it started with.
/// </summary>
public sealed class ReadLifecycleOptionsActivity(IOptions<ShadowLifecycleOptions> options) : WorkflowActivity<string, ShadowLifecycleOptions>
{
    /// <inheritdoc />
    public override Task<ShadowLifecycleOptions> RunAsync(WorkflowActivityContext context, string input)
    {
        // Every new instance records the behaviour it runs; the same value each time, so the shared options may carry it.
        options.Value.LifecycleVersion = ShadowLifecycleOptions.CurrentLifecycleVersion;
        return Task.FromResult(options.Value);
    }
}
