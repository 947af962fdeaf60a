using Dapr.Workflow;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.Mirroring;
using Shadowing.TestUtilities.State;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Activities;

public sealed class CollectWarmupStatsActivityTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 11, 30, 0, TimeSpan.Zero);

    [Fact]
    public async Task RunAsync_CountsOnlyTheCopiesWhoseOutcomesHaveAllHadTimeToArrive_AsTheWarmUpsValidationJudges()
    {
        // 30 copies answered minutes ago, 5 fast answers in the last 5 s: the slow answers and the timeouts of those last
        // seconds are not stored yet, so they are counted (and judged) only once the copy timeout and a flush have passed.
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await new RoutingTableStore(store, bus).PutAsync(
            new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.WarmingUp }],
                Mirror = new MirrorPolicy { Timeout = TimeSpan.FromSeconds(10) },
            },
            TestContext.Current.CancellationToken);
        await StoredOutcomes.SaveAsync(
            store,
            Enumerable.Range(0, 30).Select(i => Outcome($"old{i}", Now.AddMinutes(-5).AddSeconds(i))).Concat(Enumerable.Range(0, 5).Select(i => Outcome($"new{i}", Now.AddSeconds(-5 + i)))),
            TestContext.Current.CancellationToken);
        var time = new FakeTimeProvider(Now);
        var activity = new CollectWarmupStatsActivity(new ShadowValidator(store, bus, time), Substitute.For<IShadowProvisioner>(), time);

        var stats = await activity.RunAsync(Substitute.For<WorkflowActivityContext>(), new WarmupStep("orders", "s1", Now.AddMinutes(-10)));
        time.Advance(TimeSpan.FromSeconds(13));
        var later = await activity.RunAsync(Substitute.For<WorkflowActivityContext>(), new WarmupStep("orders", "s1", Now.AddMinutes(-10)));

        Assert.Equal(30, stats.Samples);
        Assert.Equal(35, later.Samples);
        Assert.Equal(Now.AddMinutes(-10).AddSeconds(13), stats.CountedSince); // the span counted ends 13 s ago: its pace is over now minus this
    }

    private static MirrorOutcome Outcome(string id, DateTimeOffset at) => Outcomes.Answered(id, at);
}
