using Dapr.Workflow;
using Microsoft.Extensions.Options;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Activities;

public sealed class ReadLifecycleOptionsActivityTests
{
    // What Dapr.Workflow serializes activity results into the history with.
    private static readonly global::Dapr.Common.Serialization.JsonDaprSerializer History = new();

    [Fact]
    public async Task Result_RecordsTheCurrentLifecycleVersion_AndAHistoryFromBeforeItReadsAsVersion0()
    {
        var options = await new ReadLifecycleOptionsActivity(Options.Create(new ShadowLifecycleOptions { WarmupSamples = 42 }))
            .RunAsync(Substitute.For<WorkflowActivityContext>(), "request");
        var recorded = History.Serialize(options);

        var replayed = History.Deserialize<ShadowLifecycleOptions>(recorded)!;
        var older = History.Deserialize<ShadowLifecycleOptions>("""{"warmupSamples":42}""")!;

        Assert.Equal((ShadowLifecycleOptions.CurrentLifecycleVersion, 42), (replayed.LifecycleVersion, replayed.WarmupSamples));
        Assert.Equal(0, older.LifecycleVersion);
    }
}
