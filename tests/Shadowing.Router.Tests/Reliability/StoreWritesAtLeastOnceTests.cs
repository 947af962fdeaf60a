using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Embedded.State;
using Shadowing.Router.Metrics;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Tests.Mirroring;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Messaging;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>
/// The router's two at-least-once writes to the state store, per-minute metric records and mirror outcomes, under load
/// over a store that fails calls and loses the answers of writes it applied: each is retried until it lands, and counted
/// at both ends it lands once in effect (the requests the records count equal the requests each endpoint served; every
/// outcome published is kept once for validation).
/// </summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class StoreWritesAtLeastOnceTests
{
    // One slot's cap: the load takes a second or two, and wherever a slot's boundary falls none may be dropped.
    private const int Total = OutcomeSlot.Cap;
    private const int Batches = 30;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StoreFailsAndLosesAnswersUnderLoad_MetricRecordsAndOutcomesEachCountedOnce()
    {
        using var sqlite = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        var chaotic = new ChaoticStateStore(sqlite, key => key.StartsWith(StateKeys.MetricsPrefix, StringComparison.Ordinal) || key.StartsWith(StateKeys.OutcomesPrefix, StringComparison.Ordinal));
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        // Senders enough that the shadow's share is never full at the client's concurrency: a copy shed as target_busy is
        // not published (the wait below accounts for one anyway, so a starved machine cannot hang the test on it).
        await using var router = await RouterHost.StartAsync(
            [MirroringTests.With(p1, [(s1, true)], new MirrorPolicy { Percent = 100 })],
            new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "64" },
            sharedStore: chaotic);
        var published = MirroringTests.Collect(router);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4 }) { BaseAddress = router.Address };

        var started = TimeProvider.System.GetUtcNow();
        var minutes = router.App.Services.GetRequiredService<MinuteRecorder>();
        var outcomes = router.App.Services.GetRequiredService<OutcomeRecorder>();

        // Load in batches, each followed by a flush of both recorders (the partial minute too), so the same minute's
        // documents are merged into many times while the store fails.
        for (var batch = 0; batch < Batches; batch++)
        {
            var (failures, _) = await ClientLoad.RunAsync(client, "orders", Total / Batches, 4, _ => { }, cancellationToken: Ct);
            Assert.Empty(failures);
            await minutes.FlushAsync(DateTimeOffset.MaxValue, Ct);
            await outcomes.FlushAsync(Ct);
        }

        // Every copy published or dropped before it was sent (a copy not sent to a stalled shadow is dropped and published).
        var dropped = 0d;
        await Eventually.WaitUntilAsync(
            async () =>
            {
                var metrics = await router.MetricsAsync();
                dropped = PrometheusText.Sum(metrics, "shadowing_mirror_dropped_total", ("service", "orders"))
                    - (PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "target_stalled")) ?? 0);
                return published.Count + dropped >= Total; // more would be a duplicate, which the check below reports
            },
            $"the {Total} copies' outcomes published or the copies dropped",
            cancellationToken: Ct);
        Assert.True(published.Count >= Total / 2, $"only {published.Count} of {Total} outcomes published ({dropped} copies dropped)");

        // Flush until nothing waits: every write that failed, or whose answer was lost, is tried again.
        IReadOnlyList<MirrorOutcome> kept = [];
        await Eventually.WaitUntilAsync(
            async () =>
            {
                await minutes.FlushAsync(DateTimeOffset.MaxValue, Ct);
                await outcomes.FlushAsync(Ct);
                // Read as validation reads them: the slots of the load's window.
                kept = await new ShadowValidator(sqlite, Substitute.For<IEventBus>(), TimeProvider.System).SentAsync("orders", "s1", started, TimeProvider.System.GetUtcNow(), cancellationToken: Ct);
                return minutes.PendingRecords == 0 && kept.Count >= published.Count;
            },
            "every metric record and outcome written",
            cancellationToken: Ct);
        Assert.True(chaotic.Failures > 0 && chaotic.LostAnswers > 0, "the store failed calls and lost answers");

        var served = await RecordsAsync(sqlite, "p1");
        var mirrored = await RecordsAsync(sqlite, "s1");
        Assert.Equal<long>(p1.Requests, served.Sum(r => r.Requests));
        Assert.Equal<long>(s1.Requests, mirrored.Sum(r => r.Mirror?.Requests ?? 0));
        var check = DeliveryCheck.Of(published.Select(o => o.RequestId), kept.Select(o => o.RequestId), []);
        Assert.True(check.Holds, check.ToString());
        Assert.Equal(0, check.Duplicates);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"the store failed {chaotic.Failures} calls and lost {chaotic.LostAnswers} answers; metric records count {p1.Requests} requests to p1 and " +
            $"{s1.Requests} copies to s1, as they served; {dropped} copies dropped; outcomes: {check}");
    }

    private static async Task<IReadOnlyList<EndpointMinuteRecord>> RecordsAsync(IStateStore store, string endpoint)
    {
        var records = new List<EndpointMinuteRecord>();
        foreach (var key in (await store.ListKeysAsync($"{StateKeys.MetricsPrefix}orders/", Ct)).Where(k => k.Contains($"/{endpoint}@", StringComparison.Ordinal)))
        {
            records.AddRange((await store.GetJsonAsync<EndpointMetricsDay>(key, Ct))!.Value.Minutes);
        }

        return records;
    }
}
