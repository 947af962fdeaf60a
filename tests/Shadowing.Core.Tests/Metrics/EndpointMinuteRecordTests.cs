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
    public async Task ReadAsync_ListsOnlyTheDaysAsked_ReadsOnlyTheHoursAsked_AndTheLayoutsBefore()
    {
        var inner = new InMemoryStateStore();
        var first = new DateOnly(2026, 11, 1);
        for (var d = 0; d < 10; d++)
        {
            var day = first.AddDays(d);
            foreach (var endpoint in new[] { "p1", $"shadow-{d}" })
            {
                foreach (var (hour, requests) in new[] { (0, d + 1L), (13, 10L * (d + 1)) })
                {
                    var minute = Record(endpoint, new DateTimeOffset(day.ToDateTime(new TimeOnly(hour, 7)), TimeSpan.Zero), requests);
                    await inner.SaveJsonAsync(StateKeys.Metrics("orders", endpoint, minute.Minute), new EndpointMetricsDay { Service = "orders", EndpointId = endpoint, Day = day, Hour = hour, Minutes = [minute] }, cancellationToken: Ct);
                }
            }
        }

        // A whole day written by the version before the hours, read whatever the window's hours.
        var wholeDay = first.AddDays(4);
        await inner.SaveJsonAsync(StateKeys.WholeDayMetrics("orders", "p1", wholeDay), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = wholeDay, Minutes = [Record("p1", new DateTimeOffset(wholeDay.ToDateTime(new TimeOnly(20, 0)), TimeSpan.Zero), 1000)] }, cancellationToken: Ct);

        // Written by the layout before the days: one day in the window, one before it.
        foreach (var (day, requests) in new[] { (first.AddDays(4), 100L), (first.AddDays(2), 200L) })
        {
            await inner.SaveJsonAsync(StateKeys.LegacyMetrics("orders", "p1", day), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = day, Minutes = [Record("p1", new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero), requests)] }, cancellationToken: Ct);
        }

        await inner.SaveJsonAsync(StateKeys.Metrics("payments", "p1", new DateTimeOffset(first.AddDays(3).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero)), new EndpointMetricsDay { Service = "payments", EndpointId = "p1", Day = first.AddDays(3) }, cancellationToken: Ct);
        var store = new ListingStore(inner);

        // From 13:30 on the 4th to 13:00 on the 5th: the 4th's 13 o'clock documents and the 5th's midnight ones.
        var from = new DateTimeOffset(first.AddDays(3).ToDateTime(new TimeOnly(13, 30)), TimeSpan.Zero);
        var read = await EndpointMetricsDay.ReadAsync(store, "orders", from, from.AddHours(23.5), cancellationToken: Ct).ToListAsync(Ct);

        Assert.Equal(["metrics-by-day/orders/2026-11-04/", "metrics-by-day/orders/2026-11-05/", "metrics/orders/"], store.Listed);
        Assert.Equal(
            ["metrics-by-day/orders/2026-11-04/p1@13", "metrics-by-day/orders/2026-11-04/shadow-3@13", "metrics-by-day/orders/2026-11-05/p1", "metrics-by-day/orders/2026-11-05/p1@00", "metrics-by-day/orders/2026-11-05/shadow-4@00", "metrics/orders/p1/2026-11-05"],
            store.Read);
        Assert.Equal(
            [("p1", 40L), ("shadow-3", 40L), ("p1", 1000L), ("p1", 5L), ("shadow-4", 5L), ("p1", 100L)],
            read.Select(d => (d.EndpointId, d.Minutes.Single().Requests)));
        Assert.Empty(await EndpointMetricsDay.ReadAsync(store, "orders", from, from, cancellationToken: Ct).ToListAsync(Ct));

        // An hour that ends where the window starts holds none of it.
        var hourOn = from.AddMinutes(30);
        Assert.Empty(await EndpointMetricsDay.ReadAsync(store, "orders", hourOn, hourOn.AddHours(1), cancellationToken: Ct).ToListAsync(Ct));
    }

    private static EndpointMinuteRecord Record(string endpoint, DateTimeOffset minute, long requests) =>
        new() { Service = "orders", EndpointId = endpoint, Role = EndpointRole.Production, Minute = minute, Requests = requests };

    /// <summary>Records every prefix listed and every key read.</summary>
    private sealed class ListingStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        private readonly ConcurrentQueue<string> _listed = new();
        private readonly ConcurrentQueue<string> _read = new();

        public IReadOnlyList<string> Listed => [.. _listed];

        public IReadOnlyList<string> Read => [.. _read];

        public override Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
        {
            _read.Enqueue(key);
            return base.GetAsync(key, cancellationToken);
        }

        public override Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
        {
            _listed.Enqueue(prefix);
            return base.ListKeysAsync(prefix, cancellationToken);
        }
    }
}
