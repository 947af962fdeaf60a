using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.Validation;

public sealed class ShadowValidatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 4, 11, 58, 0, TimeSpan.Zero);

    [Fact]
    public async Task OutcomesAsync_ReadsEverySlotOfTheWindow_AcrossAnHour_AndNothingOutsideIt()
    {
        var store = new InMemoryStateStore();
        var outcomes = Enumerable.Range(0, 240).Select(i => Outcome($"s1-{i}", "s1", Start.AddSeconds(i)))
            .Concat(Enumerable.Range(0, 240).Select(i => Outcome($"s2-{i}", "s2", Start.AddSeconds(i))))
            .ToList();
        await StoredOutcomes.SaveAsync(store, outcomes, TestContext.Current.CancellationToken);
        var validator = new ShadowValidator(store, Substitute.For<IEventBus>(), new FakeTimeProvider(Start.AddMinutes(10)));

        // From mid-slot before the hour to the first instant of a slot after it.
        var from = Start.AddSeconds(61.5);
        var to = Start.AddSeconds(152);
        var read = await validator.OutcomesAsync("orders", "s1", from, to, TestContext.Current.CancellationToken);

        Assert.Equal(
            outcomes.Where(o => o.Copy.EndpointId == "s1" && o.ReceivedAt >= from && o.ReceivedAt <= to).Select(o => o.RequestId).Order(),
            read.Select(o => o.RequestId).Order());
        Assert.Equal(91, read.Count);
    }

    private static MirrorOutcome Outcome(string id, string endpoint, DateTimeOffset at) => new()
    {
        RequestId = id,
        Service = "orders",
        Method = "GET",
        Path = "/items",
        ReceivedAt = at,
        Production = new EndpointAnswer("p1", 200, 1, 10),
        Copy = new EndpointAnswer(endpoint, 200, 1, 10),
    };
}
