using Microsoft.Extensions.Logging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Metrics.Router;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.State;

namespace Shadowing.Metrics.Tests.Router;

public sealed class RouterRecordsSourceTests
{
    private static readonly DateTimeOffset T = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _state = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Get_Requests_SumsEndpointsAndMinutesIntoSteps()
    {
        await Day("p1", (0, 10, 20), (1, 12, 20), (5, 7, 20));
        await Day("shadow", (0, 3, 100), (6, 1, 100));

        var series = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal(T, series.Start);
        Assert.Equal([25.0, 8], series.Values);
    }

    [Fact]
    public async Task Get_AnHourDocumentThatCannotBeRead_IsLeftOutAndLogged_TheOthersStillCount()
    {
        await Day("p1", (0, 10, 20), (5, 7, 20));

        // A newer router's record, with a role this version does not know.
        await _state.SaveAsync(StateKeys.Metrics("orders", "p2", T), """{"service":"orders","endpointId":"p2","day":"2026-11-26","minutes":[{"service":"orders","endpointId":"p2","role":"Canary","minute":"2026-11-26T12:00:00+00:00","requests":99}]}"""u8.ToArray(), etag: null, Ct);
        var logger = Substitute.For<ILogger<RouterRecordsSource>>();
        logger.IsEnabled(Arg.Any<LogLevel>()).Returns(true);

        var series = await new RouterRecordsSource(_state, logger: logger).GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddMinutes(10), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal([10.0, 7], series.Values);
        Assert.Single(logger.ReceivedCalls(), c => c.GetMethodInfo().Name == nameof(ILogger.Log) && c.GetArguments()[0] is LogLevel.Warning);
    }

    [Fact]
    public async Task Get_LatencyP90_ComesFromMergedHistograms()
    {
        await Day("p1", (0, 90, 10));
        await Day("p2", (1, 10, 500));

        var series = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.LatencyP90, T, T.AddMinutes(5), TimeSpan.FromMinutes(5)), Ct);
        var mean = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.LatencyMean, T, T.AddMinutes(5), TimeSpan.FromMinutes(5)), Ct);

        Assert.InRange(series.Values[0], 7.5, 10); // 90 of 100 requests took 10 ms
        Assert.Equal(((90 * 10) + (10 * 500)) / 100.0, mean.Values[0], 6);
    }

    [Fact]
    public async Task Get_Latency_StepsWithoutRequestsHaveNoneAndAreFilledBetweenTheirNeighbours()
    {
        // The router writes minutes without requests too; their latency, 0, says nothing about the endpoint.
        await Day("p1", (0, 10, 40), (5, 0, 0), (6, 0, 0), (10, 10, 80));

        var series = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.LatencyMean, T, T.AddMinutes(15), TimeSpan.FromMinutes(5)), Ct);
        var requests = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddMinutes(15), TimeSpan.FromMinutes(5)), Ct);

        Assert.Equal([40.0, 60, 80], series.Values);
        Assert.True(series.Imputed[1]);
        Assert.Equal([10.0, 0, 10], requests.Values);
    }

    [Fact]
    public async Task Get_NoRecordsOrCpu_SaysWhy()
    {
        var source = new RouterRecordsSource(_state);

        Assert.Contains("no traffic", (await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Requests, T, T.AddHours(1), TimeSpan.FromMinutes(5)), Ct))).Message, StringComparison.Ordinal);
        Assert.Contains("Prometheus or Azure Monitor", (await Assert.ThrowsAsync<MetricsUnavailableException>(() => source.GetAsync(new MetricQuery("orders", MetricKind.Cpu, T, T.AddHours(1), TimeSpan.FromMinutes(5)), Ct))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SettledHoursAreKept_NotReadAgain_AndGiveWhatAFullReadGives()
    {
        // Three days of two endpoints (the 24th to the 26th); at 03:00 on the 27th the hours from 21:00 on the 26th ended
        // within the settle time, so they are read at every run; the hours before are read once.
        var random = Shadowing.Core.Randomness.RandomSource.Seeded(5);
        for (var d = -2; d <= 0; d++)
        {
            foreach (var endpoint in new[] { "p1", "s1" })
            {
                await Day(endpoint, T.AddDays(d).AddHours(-12), [.. Enumerable.Range(0, 1440).Where(_ => random.NextDouble() < 0.5).Select(m => (m, (long)(1 + random.Next(49)), 1 + (random.NextDouble() * 80)))]);
            }
        }

        // A replica of the version before the hours wrote its share of two minutes of the 26th in a whole-day document,
        // read again with the hours not settled yet: only its minutes in those hours count again.
        var wholeDay = new[] { T.AddHours(-10), T.AddHours(10) }.Select(m => new EndpointMinuteRecord
        {
            Service = "orders", EndpointId = "p1", Role = EndpointRole.Production, Minute = m, Requests = 7, LatencyMeanMs = 3, LatencyMaxMs = 3,
            LatencyBuckets = [.. Enumerable.Range(0, LatencyHistogram.BucketCount).Select(b => b == LatencyHistogram.BucketOf(3) ? 7L : 0L)],
        });
        await _state.SaveJsonAsync(StateKeys.WholeDayMetrics("orders", "p1", DateOnly.FromDateTime(T.UtcDateTime)), new EndpointMetricsDay { Service = "orders", EndpointId = "p1", Day = DateOnly.FromDateTime(T.UtcDateTime), Minutes = [.. wholeDay] }, cancellationToken: Ct);

        var now = T.AddHours(15);
        var store = new ListingStore(_state);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(now);
        var kept = new RouterRecordsSource(store, time);
        var step = TimeSpan.FromMinutes(5);
        var from = T.AddDays(-2).AddHours(-3).AddMinutes(25); // mid-hour: the first hour is kept whole, the window starts later

        foreach (var kind in new[] { MetricKind.Requests, MetricKind.Errors, MetricKind.LatencyP90, MetricKind.LatencyMean })
        {
            var expected = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", kind, from, now, step), Ct);
            var first = await kept.GetAsync(new MetricQuery("orders", kind, from, now, step), Ct);
            var again = await kept.GetAsync(new MetricQuery("orders", kind, from, now, step), Ct);

            Assert.Equal(expected.Start, first.Start);
            Assert.Equal(expected.Values, first.Values);
            Assert.Equal(expected.Start, again.Start);
            Assert.Equal(expected.Values, again.Values);
        }

        // Within a run (the same minute), nothing is read again; a minute on, the hours not settled are, and only those.
        store.Listed.Clear();
        var before = await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct);
        Assert.Empty(store.Listed);
        time.Advance(RouterRecordsSource.RecentFor);
        store.Listed.Clear();
        store.Read.Clear();
        Assert.Equal(before.Values, (await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct)).Values);
        Assert.Equal(["metrics-by-day/orders/2026-11-26/", "metrics-by-day/orders/2026-11-27/", "metrics/orders/"], store.Listed);
        Assert.Equal(["metrics-by-day/orders/2026-11-26/p1", .. new[] { "p1", "s1" }.SelectMany(e => new[] { 21, 22, 23 }.Select(h => $"metrics-by-day/orders/2026-11-26/{e}@{h}"))], store.Read);
        Assert.Equal(15 + 24 + 21, kept.SettledParts); // from 09:00 on the 24th to 21:00 on the 26th

        // A record of the 26th arriving late in an hour not settled yet is seen at the next run.
        await Day("late", T.AddHours(10), (0, 1000, 5));
        Assert.Equal(before.Values.Sum(), (await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct)).Values.Sum());
        time.Advance(RouterRecordsSource.RecentFor);
        var later = await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct);
        Assert.Equal(before.Values.Sum() + 1000, later.Values.Sum());

        // A shorter window (the PAE's last hour of latency) lets no hour go: the next long read still reads only the unsettled ones.
        time.Advance(RouterRecordsSource.RecentFor);
        await kept.GetAsync(new MetricQuery("orders", MetricKind.LatencyMean, T.AddHours(11), T.AddHours(12), step), Ct);
        time.Advance(RouterRecordsSource.RecentFor);
        store.Listed.Clear();
        await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct);
        Assert.Equal(["metrics-by-day/orders/2026-11-26/", "metrics-by-day/orders/2026-11-27/", "metrics/orders/"], store.Listed);

        // A record of 12:00 on the 26th arriving later still (a router held it past the settle time) counts once its hour is
        // read again, the settle time and a day after it ended (19:00 on the 27th), and not before.
        await Day("later", T, (0, 500, 5));
        var rereadAt = T.AddHours(1) + RouterRecordsSource.SettleTime + RouterRecordsSource.KeptFor;
        Assert.Equal(later.Values.Sum(), (await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct)).Values.Sum());
        time.SetUtcNow(rereadAt.AddMinutes(-1));
        store.Listed.Clear();
        Assert.Equal(later.Values.Sum(), (await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct)).Values.Sum());

        // That read took two runs of hours: from 21:00 on the 25th to 12:00 on the 26th (their day since they settled is
        // up) and from 21:00 on the 26th (not settled when last read). The 26th's whole-day document came with each, each of
        // its minutes counted once (the sum above); the next minute, only 12:00 on the 26th is due.
        Assert.Equal(["metrics-by-day/orders/2026-11-25/", "metrics-by-day/orders/2026-11-26/", "metrics/orders/", "metrics-by-day/orders/2026-11-26/", "metrics-by-day/orders/2026-11-27/", "metrics/orders/"], store.Listed);
        time.SetUtcNow(rereadAt);
        store.Listed.Clear();
        Assert.Equal(later.Values.Sum() + 500, (await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct)).Values.Sum());
        Assert.Equal(["metrics-by-day/orders/2026-11-26/", "metrics/orders/"], store.Listed);

        // An hour read when it was already that old is final: a record of it arriving now is not seen (the limit the README states).
        await Day("too-late", T.AddDays(-1), (0, 300, 5));
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(later.Values.Sum() + 500, (await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, now, step), Ct)).Values.Sum());

        // Two days on (20:00 on the 29th), the window has moved past the 24th, which no query asked for in a day: it is let
        // go. The hours from 09:00 on the 25th to 14:00 on the 29th are kept settled; the later ones are not settled yet.
        time.Advance(TimeSpan.FromDays(2));
        var end = new DateTimeOffset(time.GetUtcNow().UtcTicks - (time.GetUtcNow().UtcTicks % step.Ticks), TimeSpan.Zero); // as the PAE asks
        var moved = await kept.GetAsync(new MetricQuery("orders", MetricKind.Requests, from.AddDays(1), end, step), Ct);
        Assert.Equal((4 * 24) + 5, kept.SettledParts);
        var fullMoved = await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.Requests, from.AddDays(1), end, step), Ct);
        Assert.Equal(fullMoved.Values.Sum() - 300, moved.Values.Sum());

        // A window that ends mid-hour keeps that hour whole: a longer window after it gets the rest of the hour too.
        var partial = new RouterRecordsSource(_state, time);
        await partial.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, T.AddHours(-1.5), step), Ct);
        Assert.Equal(
            (await new RouterRecordsSource(_state).GetAsync(new MetricQuery("orders", MetricKind.Requests, from, T, step), Ct)).Values,
            (await partial.GetAsync(new MetricQuery("orders", MetricKind.Requests, from, T, step), Ct)).Values);

        // A step that divides a day but not an hour (90 minutes) is kept by 3 hours, across the hours' documents: a run's
        // second read lists nothing; the next run reads the parts not settled, and sees what arrived in them since.
        var byNinety = new RouterRecordsSource(store, time);
        var ninety = new MetricQuery("orders", MetricKind.Requests, T.AddDays(-2).AddHours(-3), T.AddDays(3).AddHours(6), TimeSpan.FromMinutes(90));
        Assert.Equal((await new RouterRecordsSource(_state).GetAsync(ninety, Ct)).Values, (await byNinety.GetAsync(ninety, Ct)).Values);
        store.Listed.Clear();
        await byNinety.GetAsync(ninety, Ct);
        Assert.Empty(store.Listed);
        Assert.Equal(((5 * 24) + 3) / 3, byNinety.SettledParts); // from 09:00 on the 24th to 12:00 on the 29th, by 3 hours
        await Day("recent", T.AddDays(3).AddHours(4), (0, 40, 5));
        time.Advance(RouterRecordsSource.RecentFor);
        Assert.Equal((await new RouterRecordsSource(_state).GetAsync(ninety, Ct)).Values, (await byNinety.GetAsync(ninety, Ct)).Values);
        Assert.Equal(["metrics-by-day/orders/2026-11-29/", "metrics/orders/"], store.Listed);
    }

    /// <summary>Records every prefix listed and every key read.</summary>
    private sealed class ListingStore(IStateStore inner) : DelegatingStateStore(inner)
    {
        public List<string> Listed { get; } = [];

        public List<string> Read { get; } = [];

        public override Task<StateItem?> GetAsync(string key, CancellationToken cancellationToken = default)
        {
            lock (Read)
            {
                Read.Add(key);
            }

            return base.GetAsync(key, cancellationToken);
        }

        public override Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
        {
            lock (Listed)
            {
                Listed.Add(prefix);
            }

            return base.ListKeysAsync(prefix, cancellationToken);
        }
    }

    private Task Day(string endpoint, params (int Minute, long Requests, double LatencyMs)[] minutes) => Day(endpoint, T, minutes);

    private Task Day(string endpoint, DateTimeOffset start, params (int Minute, long Requests, double LatencyMs)[] minutes) =>
        RouterRecords.SaveAsync(
            _state,
            minutes.Select(m =>
            {
                var buckets = new long[LatencyHistogram.BucketCount];
                buckets[LatencyHistogram.BucketOf(m.LatencyMs)] = m.Requests;
                return new EndpointMinuteRecord
                {
                    Service = "orders",
                    EndpointId = endpoint,
                    Role = EndpointRole.Production,
                    Minute = start.AddMinutes(m.Minute),
                    Requests = m.Requests,
                    Errors = m.Requests / 10,
                    LatencyMeanMs = m.LatencyMs,
                    LatencyMaxMs = m.LatencyMs,
                    LatencyBuckets = buckets,
                };
            }),
            Ct);
}
