using System.Collections.Concurrent;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.Metrics;

public sealed class EndpointMinuteRecordTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReadAsync_ListsOnlyTheDaysAsked_NotEveryEndpointTheServiceEverHad_AndReadsTheLayoutBefore()
    {
        var inner = new InMemoryStateStore();
        var first = new DateOnly(2026, 11, 1);
        for (var d = 0; d < 10; d++)
        {
            var day = first.AddDays(d);
            foreach (var endpoint in new[] { "p1", $"shadow-{d}" })
            {
                var minute = new EndpointMinuteRecord { Service = "orders", EndpointId = endpoint, Role = EndpointRole.Production, Minute = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero), Requests = d + 1 };
                await inner.SaveJsonAsync(StateKeys.Metrics("orders", endpoint, day), new EndpointMetricsDay { Service = "orders", EndpointId = endpoint, Day = day, Minutes = [minute] }, cancellationToken: Ct);
            }
        }

        // Written by the version before: one day in the window, one before it.
        foreach (var (day, requests) in new[] { (first.AddDays(4), 100L), (first.AddDays(2), 200L) })
        {
            var minute = new EndpointMinuteRecord { Service = "orders", EndpointId = "p1", Role = EndpointRole.Production, Minute = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero), Requests = requests };
            await inner.SaveJsonAsync(StateKeys.LegacyMetrics("orders", "p1", day), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = day, Minutes = [minute] }, cancellationToken: Ct);
        }

        await inner.SaveJsonAsync(StateKeys.Metrics("payments", "p1", first.AddDays(3)), new EndpointMetricsDay { Service = "payments", EndpointId = "p1", Day = first.AddDays(3) }, cancellationToken: Ct);
        var store = new ListingStore(inner);

        var read = await EndpointMetricsDay.ReadAsync(store, "orders", first.AddDays(3), first.AddDays(4), Ct).ToListAsync(Ct);

        Assert.Equal(["metrics-by-day/orders/2026-11-04/", "metrics-by-day/orders/2026-11-05/", "metrics/orders/"], store.Listed);
        Assert.Equal(
            [("p1", 4L), ("shadow-3", 4L), ("p1", 5L), ("shadow-4", 5L), ("p1", 100L)],
            read.Select(d => (d.EndpointId, d.Minutes.Single().Requests)));
    }

    /// <summary>Records every prefix listed.</summary>
    private sealed class ListingStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        private readonly ConcurrentQueue<string> _listed = new();

        public IReadOnlyList<string> Listed => [.. _listed];

        public override Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
        {
            _listed.Enqueue(prefix);
            return base.ListKeysAsync(prefix, cancellationToken);
        }
    }
}
