using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Mirroring;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.Validation;

public sealed class ShadowValidatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 4, 11, 58, 0, TimeSpan.Zero);

    [Fact]
    public async Task RecordAsync_AFailNotActedOn_IsStoredButNeitherCountedNorAlerted()
    {
        // The counter's Fail rule says the shadow left routing; a Fail revalidation does not act on yet must not fire it.
        // A service name of its own: the meter is static, and other tests record verdicts meanwhile.
        const string Service = "uncounted-fail";
        var counted = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ShadowValidator.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var all = tags.ToArray();
            if (Equals(all.Single(t => t.Key == "service").Value, Service))
            {
                counted.Enqueue($"{all.Single(t => t.Key == "verdict").Value}");
            }
        });
        listener.Start();
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        var validator = new ShadowValidator(store, bus, new FakeTimeProvider(Start));
        var fail = new ShadowVerdict { Service = Service, Shadow = "s1", Verdict = Verdict.Fail, Reasons = ["errorRate"], Metrics = [], From = Start, To = Start.AddMinutes(10), JudgedAt = Start.AddMinutes(10) };

        await validator.RecordAsync(fail, storeInconclusive: false, alert: false, TestContext.Current.CancellationToken);

        Assert.NotNull(await store.GetAsync(StateKeys.Verdict(Service, "s1"), TestContext.Current.CancellationToken));
        Assert.Empty(counted);
        await bus.DidNotReceive().PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>());

        await validator.RecordAsync(fail, storeInconclusive: false, alert: true, TestContext.Current.CancellationToken);

        Assert.Equal(["Fail"], counted);
        await bus.Received(1).PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RecordAsync_AFailWhoseAlertCannotGoOutNorBeKept_IsNotStored_SoTheNextJudgementAlertsAgain()
    {
        // Stored (as noticed) first, an Active shadow's Fail whose alert then failed was lost: its later Fails are not
        // alerted while it stays failing.
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        bus.PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>()).Returns(Task.FromException(new InvalidOperationException("the sidecar went away")));
        var validator = new ShadowValidator(store, bus, new FakeTimeProvider(Start));
        var fail = new ShadowVerdict { Service = "orders", Shadow = "s1", Verdict = Verdict.Fail, Reasons = ["errorRate"], Metrics = [], From = Start, To = Start.AddMinutes(10), JudgedAt = Start.AddMinutes(10), Noticed = true };

        await Assert.ThrowsAsync<InvalidOperationException>(() => validator.RecordAsync(fail, storeInconclusive: false, cancellationToken: TestContext.Current.CancellationToken));

        Assert.Null(await store.GetAsync(StateKeys.Verdict("orders", "s1"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task SentAsync_DirectOrWithoutATable_ReadsEverySlotOfTheWindow_AcrossAnHour_AndNothingOutsideIt()
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
        var read = await validator.SentAsync("orders", "s1", from, to, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(
            outcomes.Where(o => o.Copy.EndpointId == "s1" && o.ReceivedAt >= from && o.ReceivedAt <= to).Select(o => o.RequestId).Order(),
            read.Select(o => o.RequestId).Order());
        Assert.Equal(91, read.Count);
    }

    [Theory]
    [InlineData(MirrorTransport.PubSub, Verdict.Fail)]
    [InlineData(MirrorTransport.Direct, Verdict.Inconclusive)]
    public async Task WithAPubSubTimeShift_TheCopiesSentInTheWindowAreJudged_NotThoseReceivedInIt(MirrorTransport transport, Verdict expected)
    {
        // Copies of requests received 35 to 34 minutes ago, replayed 30 minutes later (5 to 4 minutes ago), all failing.
        var now = Start.AddHours(1);
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await PutTableAsync(store, bus, new MirrorPolicy { Transport = transport, TimeShift = TimeSpan.FromMinutes(30), TimeToLive = TimeSpan.FromMinutes(40) });
        var outcomes = Enumerable.Range(0, 60).Select(i => Outcome($"r{i}", "s1", now.AddMinutes(-35).AddSeconds(i)) with
        {
            SentAt = now.AddMinutes(-5).AddSeconds(i),
            Copy = new EndpointAnswer("s1", 500, 1, 10),
        }).ToList();
        await StoredOutcomes.SaveAsync(store, outcomes, TestContext.Current.CancellationToken);
        var validator = new ShadowValidator(store, bus, new FakeTimeProvider(now));

        var verdict = await validator.ValidateAsync("orders", "s1", TimeSpan.FromMinutes(15), cancellationToken: TestContext.Current.CancellationToken);
        var sent = await validator.SentAsync("orders", "s1", now.AddMinutes(-15), now, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(expected, verdict.Verdict);
        Assert.Equal(transport == MirrorTransport.PubSub ? 60 : 0, sent.Count);
    }

    [Fact]
    public async Task Settled_TheWindowEndsTheOutcomeDelayAgo_TheCopiesWhoseOutcomesMayStillComeAreNotJudged()
    {
        // Copies 5 to 1 minutes ago all answered; of the last 12 s only the fast answers are stored so far (the slow and the
        // unanswered come up to the 10 s copy timeout and a flush later): judged, they would flatter the shadow.
        var now = Start.AddHours(1);
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await PutTableAsync(store, bus, new MirrorPolicy { Timeout = TimeSpan.FromSeconds(10) });
        var table = (await new RoutingTableStore(store, bus).GetAsync("orders", TestContext.Current.CancellationToken))!.Value;
        var outcomes = Enumerable.Range(0, 240).Select(i => Outcome($"old{i}", "s1", now.AddMinutes(-5).AddSeconds(i)))
            .Concat(Enumerable.Range(0, 12).Select(i => Outcome($"new{i}", "s1", now.AddSeconds(-12 + i))))
            .ToList();
        await StoredOutcomes.SaveAsync(store, outcomes, TestContext.Current.CancellationToken);
        var validator = new ShadowValidator(store, bus, new FakeTimeProvider(now));

        var settled = await validator.ValidateAsync("orders", "s1", TimeSpan.FromMinutes(10), settled: true, cancellationToken: TestContext.Current.CancellationToken);
        var counted = await validator.SentAsync("orders", "s1", now.AddMinutes(-10), now, settled: true, cancellationToken: TestContext.Current.CancellationToken);
        var all = await validator.SentAsync("orders", "s1", now.AddMinutes(-10), now, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(TimeSpan.FromSeconds(13), ShadowValidator.OutcomeDelay(table));
        Assert.Equal(now - ShadowValidator.OutcomeDelay(table), settled.To);
        Assert.Equal(now.AddMinutes(-10), settled.From);
        Assert.Equal(240, counted.Count);
        Assert.Equal(252, all.Count);
    }

    [Fact]
    public async Task AMinuteRecordedInEveryLayout_DuringUpgrades_IsJudgedAsOneMinute()
    {
        // Replicas of three versions each sent 20 copies in the same minute: only together are they a busy minute (30 or
        // more), and 60 copies, past minSamples (50).
        var now = Start.AddHours(1);
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await PutTableAsync(store, bus, mirror: null);
        var minute = now.AddMinutes(-5);
        var day = DateOnly.FromDateTime(minute.UtcDateTime);
        var record = new EndpointMinuteRecord
        {
            Service = "orders", EndpointId = "s1", Role = EndpointRole.Shadow, Minute = minute, LatencyBuckets = new long[LatencyHistogram.BucketCount],
            Mirror = new MirrorMinute { Requests = 20, LatencyBuckets = new long[LatencyHistogram.BucketCount] },
        };
        foreach (var key in new[] { StateKeys.Metrics("orders", "s1", minute), StateKeys.WholeDayMetrics("orders", "s1", day), StateKeys.LegacyMetrics("orders", "s1", day) })
        {
            await store.SaveJsonAsync(key, new EndpointMetricsDay { Service = "orders", EndpointId = "s1", Day = day, Minutes = [record] }, cancellationToken: TestContext.Current.CancellationToken);
        }

        var verdict = await new ShadowValidator(store, bus, new FakeTimeProvider(now)).ValidateAsync("orders", "s1", TimeSpan.FromMinutes(15), cancellationToken: TestContext.Current.CancellationToken);

        var throughput = verdict.Metrics.Single(m => m.Metric == "throughput");
        Assert.Equal(Verdict.Pass, throughput.Verdict);
        Assert.Equal(60, throughput.ShadowSamples);
    }

    [Fact]
    public async Task AWindowAcrossMidnight_ReadsEachHoursDocument_UpToTheMinuteItEndsOn()
    {
        // From 23:35 to 00:00: 23:40 is in the 4th's 23 o'clock document, 00:00 (the window ends on it) in the 5th's
        // midnight one; 23:20 is before the window.
        var now = new DateTimeOffset(2026, 12, 5, 0, 0, 0, TimeSpan.Zero);
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await PutTableAsync(store, bus, mirror: null);
        await RouterRecords.SaveAsync(
            store,
            new[] { (now.AddMinutes(-40), 100L), (now.AddMinutes(-20), 40L), (now, 35L) }.Select(m => new EndpointMinuteRecord
            {
                Service = "orders", EndpointId = "s1", Role = EndpointRole.Shadow, Minute = m.Item1, LatencyBuckets = new long[LatencyHistogram.BucketCount],
                Mirror = new MirrorMinute { Requests = m.Item2, LatencyBuckets = new long[LatencyHistogram.BucketCount] },
            }),
            TestContext.Current.CancellationToken);

        var verdict = await new ShadowValidator(store, bus, new FakeTimeProvider(now)).ValidateAsync("orders", "s1", TimeSpan.FromMinutes(25), cancellationToken: TestContext.Current.CancellationToken);

        var throughput = verdict.Metrics.Single(m => m.Metric == "throughput");
        Assert.Equal((75L, 2L), (throughput.ShadowSamples, throughput.BaselineSamples));
    }

    [Fact]
    public async Task AWindowStartingMidMinute_JudgesWholeMinutesFromItsStart_NotTheMinuteBefore()
    {
        // Remediation restarted the shadow at 12:00:40: the minute 12:00 holds the old process's failing copies.
        var now = new DateTimeOffset(2026, 12, 5, 12, 10, 40, TimeSpan.Zero);
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await PutTableAsync(store, bus, mirror: null);
        await RouterRecords.SaveAsync(
            store,
            new[] { (new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero), 60L), (new DateTimeOffset(2026, 12, 5, 12, 1, 0, TimeSpan.Zero), 0L) }.Select(m => new EndpointMinuteRecord
            {
                Service = "orders", EndpointId = "s1", Role = EndpointRole.Shadow, Minute = m.Item1, LatencyBuckets = new long[LatencyHistogram.BucketCount],
                Mirror = new MirrorMinute { Requests = 100, Errors = m.Item2, LatencyBuckets = new long[LatencyHistogram.BucketCount] },
            }),
            TestContext.Current.CancellationToken);

        var verdict = await new ShadowValidator(store, bus, new FakeTimeProvider(now)).ValidateAsync("orders", "s1", TimeSpan.FromMinutes(10), cancellationToken: TestContext.Current.CancellationToken);

        var throughput = verdict.Metrics.Single(m => m.Metric == "throughput");
        Assert.Equal((Verdict.Pass, 100L, 1L), (throughput.Verdict, throughput.ShadowSamples, throughput.BaselineSamples));
    }

    /// <summary>The routing table of <c>orders</c>: production p1, pre-warmed shadow s1.</summary>
    private static Task PutTableAsync(IStateStore store, IEventBus bus, MirrorPolicy? mirror) =>
        new RoutingTableStore(store, bus).PutAsync(
            new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed }],
                Mirror = mirror,
            },
            TestContext.Current.CancellationToken);

    private static MirrorOutcome Outcome(string id, string endpoint, DateTimeOffset at) => Outcomes.Answered(id, at, endpoint);
}
