using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.Validation;

public sealed class ShadowRevalidationTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 30, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();

    [Fact]
    public async Task RunOnce_PublishesAFailingOwnedRoutableShadowOnly()
    {
        await PutTableAsync(
            Shadow("failing", ShadowState.PreWarmed, "shadows-orders-1"),
            Shadow("sound", ShadowState.Active, "shadows-orders-1"),
            Shadow("by-hand", ShadowState.PreWarmed, owner: null),
            Shadow("warming", ShadowState.WarmingUp, "shadows-orders-1"));
        foreach (var id in new[] { "failing", "by-hand", "warming" })
        {
            await StoreOutcomesAsync(id, status: 500);
        }

        await StoreOutcomesAsync("sound", status: 200);
        var revalidation = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        var notices = await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);

        var notice = Assert.Single(notices);
        Assert.Equal(("orders", "failing", "shadows-orders-1", Verdict.Fail), (notice.Service, notice.ShadowId, notice.Owner, notice.Verdict));
        Assert.NotEmpty(notice.Reasons);
        await _bus.Received(1).PublishAsync(Topics.ShadowVerdicts, notice, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RunOnce_ShadowReadyOnlySecondsAgo_JudgesOnlyItsCurrentProcessAndLeavesItAlone()
    {
        await PutTableAsync(Shadow("remediated", ShadowState.PreWarmed, "shadows-orders-1") with { StateChangedAt = Now.AddSeconds(-5) });
        await StoreOutcomesAsync("remediated", status: 500); // a minute of failures, nearly all from before the restart
        var revalidation = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        Assert.Empty(await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));
        await _bus.DidNotReceive().PublishAsync(Topics.ShadowVerdicts, Arg.Any<ShadowVerdictNotice>(), Arg.Any<CancellationToken>());
        Assert.Null(await _store.GetAsync(StateKeys.Verdict("orders", "remediated"), TestContext.Current.CancellationToken)); // Inconclusive: the stored verdict (a Pass, for promotion) is kept
    }

    [Fact]
    public async Task RunOnce_AFailRightAfterAWindowThatPassed_IsNotActedOn_UntilTheNextWindowFailsToo()
    {
        await PutTableAsync(Shadow("held", ShadowState.PreWarmed, "shadows-orders-1"));
        await StoreOutcomesAsync("held", status: 200, before: TimeSpan.FromMinutes(12)); // the window before passed
        await StoreOutcomesAsync("held", status: 500);
        var revalidation = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        Assert.Empty(await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));
        await _bus.DidNotReceive().PublishAsync(Topics.ShadowVerdicts, Arg.Any<ShadowVerdictNotice>(), Arg.Any<CancellationToken>());
        await _bus.DidNotReceive().PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>());
        var stored = (await _store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict("orders", "held"), TestContext.Current.CancellationToken))!.Value;
        Assert.Equal((Verdict.Fail, ShadowRevalidation.NotActedOn), (stored.Verdict, stored.Reasons[^1])); // the latest judgement: no promotion on the older Pass
        Assert.Equal(ShadowState.PreWarmed, (await new RoutingTableStore(_store, _bus).GetAsync("orders", TestContext.Current.CancellationToken))!.Value.Shadows.Single().State);

        // Ten minutes on, the window before is the failing one: now it is acted on.
        var later = Now.AddMinutes(10);
        await StoreOutcomesAsync("held", status: 500, before: TimeSpan.FromMinutes(-10));
        var next = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(later)), _bus, new FakeTimeProvider(later));
        Assert.Single(await next.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task RunOnce_AFailAfterAWindowTooQuietToJudge_IsHeldBackWhenTheLatestJudgementPassed(bool passedLately, bool actedOn)
    {
        // A quiet service: the window before holds 10 copies, under minSamples, so it says nothing either way. It used to
        // count as not passed, and a chance Fail was acted on without a second look.
        await PutTableAsync(Shadow("quiet", ShadowState.PreWarmed, "shadows-orders-1"));
        if (passedLately)
        {
            await new ShadowValidator(_store, _bus, new FakeTimeProvider(Now.AddMinutes(-2))).RecordAsync(
                new ShadowVerdict { Service = "orders", Shadow = "quiet", Verdict = Verdict.Pass, Reasons = ["a minute ago"], Metrics = [], From = Now.AddMinutes(-12), To = Now.AddMinutes(-2), JudgedAt = Now.AddMinutes(-2) },
                alert: false,
                cancellationToken: TestContext.Current.CancellationToken);
        }

        await StoreOutcomesAsync("quiet", status: 200, before: TimeSpan.FromMinutes(12), count: 10);
        await StoreOutcomesAsync("quiet", status: 500);
        var revalidation = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        var notices = await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);

        Assert.Equal(actedOn, notices.Count == 1);
        var stored = (await _store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict("orders", "quiet"), TestContext.Current.CancellationToken))!.Value;
        Assert.Equal(!actedOn, stored.Reasons[^1] == ShadowRevalidation.NotActedOn);
    }

    [Theory]
    [InlineData(Verdict.Pass, false)]
    [InlineData(Verdict.Fail, true)]
    public async Task RunOnce_AFailInTheFirstWindowAfterReady_IsActedOnOnlyIfTheJudgementThatMadeItReadyWasNotAPass(Verdict madeReady, bool actedOn)
    {
        // Ready three minutes ago, on its warm-up's verdict: the window before the current one [ready, now] is that one.
        var ready = Now.AddMinutes(-3);
        await PutTableAsync(Shadow("fresh", ShadowState.PreWarmed, "shadows-orders-1") with { StateChangedAt = ready });
        await new ShadowValidator(_store, _bus, new FakeTimeProvider(ready)).RecordAsync(
            new ShadowVerdict { Service = "orders", Shadow = "fresh", Verdict = madeReady, Reasons = ["warm-up"], Metrics = [], From = ready.AddMinutes(-10), To = ready, JudgedAt = ready },
            alert: false,
            cancellationToken: TestContext.Current.CancellationToken);
        await StoreOutcomesAsync("fresh", status: 500);
        var revalidation = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        var notices = await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);

        Assert.Equal(actedOn, notices.Count == 1);
        var stored = (await _store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict("orders", "fresh"), TestContext.Current.CancellationToken))!.Value;
        Assert.Equal(Verdict.Fail, stored.Verdict);
        Assert.Equal(!actedOn, stored.Reasons[^1] == ShadowRevalidation.NotActedOn);
    }

    [Fact]
    public async Task RunOnce_InTheFirstWindowAfterReady_AFailHeldBackIsActedOnOnlyWhenTheCopiesAfterItFailOnTheirOwn()
    {
        // Ready three minutes before Now on a warm-up that passed; a minute of failures, judged a minute before Now: held back.
        var ready = Now.AddMinutes(-3);
        await PutTableAsync(Shadow("fresh", ShadowState.PreWarmed, "shadows-orders-1") with { StateChangedAt = ready });
        await new ShadowValidator(_store, _bus, new FakeTimeProvider(ready)).RecordAsync(
            new ShadowVerdict { Service = "orders", Shadow = "fresh", Verdict = Verdict.Pass, Reasons = ["warm-up"], Metrics = [], From = ready.AddMinutes(-10), To = ready, JudgedAt = ready },
            alert: false,
            cancellationToken: TestContext.Current.CancellationToken);
        await StoreOutcomesAsync("fresh", status: 500, before: TimeSpan.FromMinutes(1));
        Assert.Empty(await TickAsync(Now.AddMinutes(-1)));

        // A minute on, the window [ready, now] still fails on the same copies: not a second look, nothing new came.
        Assert.Empty(await TickAsync(Now));
        var held = (await _store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict("orders", "fresh"), TestContext.Current.CancellationToken))!.Value;
        Assert.Equal((ShadowRevalidation.NotActedOn, Now.AddMinutes(-1)), (held.Reasons[^1], held.To)); // the first one held stays the reference

        // Copies after it that fail on their own: acted on.
        await StoreOutcomesAsync("fresh", status: 500, before: TimeSpan.FromMinutes(-2));
        Assert.Single(await TickAsync(Now.AddMinutes(2)));
        Assert.Equal(ShadowState.Validating, await StateAsync("fresh"));
    }

    [Fact]
    public async Task RunOnce_AFailingStandbyShadow_LeavesRoutingAtOnce_AndIsNoticedAndAlertedOnce_APromotedOneAlertedOnceWhileItStaysFailing()
    {
        await PutTableAsync(Shadow("standby", ShadowState.PreWarmed, "shadows-orders-1"), Shadow("promoted", ShadowState.Active, "shadows-orders-1"));
        await StoreOutcomesAsync("standby", status: 500);
        await StoreOutcomesAsync("promoted", status: 500);

        // The owner is busy (warming up another shadow) and takes the notice only later: the ticks go on meanwhile.
        for (var tick = 0; tick < 3; tick++)
        {
            var at = new FakeTimeProvider(Now.AddMinutes(tick));
            await new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, at), _bus, at).RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);
        }

        var shadows = (await new RoutingTableStore(_store, _bus).GetAsync("orders", TestContext.Current.CancellationToken))!.Value.Shadows;
        Assert.Equal(ShadowState.Validating, shadows.Single(s => s.Id == "standby").State); // no failover lands on it
        Assert.Equal(ShadowState.Active, shadows.Single(s => s.Id == "promoted").State); // keeps its traffic until its owner acts
        await _bus.Received(1).PublishAsync(Topics.ShadowVerdicts, Arg.Is<ShadowVerdictNotice>(n => n.ShadowId == "standby"), Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "standby"), Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "promoted"), Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.ShadowVerdicts, Arg.Is<ShadowVerdictNotice>(n => n.ShadowId == "promoted"), Arg.Any<CancellationToken>());
        Assert.Equal(Now.AddMinutes(2), (await _store.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict("orders", "promoted"), TestContext.Current.CancellationToken))!.Value.To); // the latest judgement stored

        // A Pass in between, and the next Fail is a new one: held back once (the window before it passed), then alerted again.
        await StoreOutcomesAsync("promoted", status: 200, before: TimeSpan.FromMinutes(-13));
        await TickAsync(Now.AddMinutes(13));
        await StoreOutcomesAsync("promoted", status: 500, before: TimeSpan.FromMinutes(-24));
        await StoreOutcomesAsync("promoted", status: 500, before: TimeSpan.FromMinutes(-35));
        await TickAsync(Now.AddMinutes(24));
        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "promoted"), Arg.Any<CancellationToken>());
        await TickAsync(Now.AddMinutes(35));
        await _bus.Received(2).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "promoted"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RunOnce_AnActiveShadowWhoseFailWasJudgedByHand_IsStillNoticedAndAlerted()
    {
        await PutTableAsync(Shadow("promoted", ShadowState.Active, "shadows-orders-1"));
        await StoreOutcomesAsync("promoted", status: 500);
        var judgedByHand = await new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)).JudgeAsync("orders", "promoted", Now.AddMinutes(-10), Now, cancellationToken: TestContext.Current.CancellationToken);
        await new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)).RecordAsync(judgedByHand, alert: false, cancellationToken: TestContext.Current.CancellationToken); // as `validate --judge` stores it, its alert going nowhere
        _bus.ClearReceivedCalls();

        Assert.Single(await TickAsync(Now.AddMinutes(1)));

        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "promoted"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RunOnce_OneShadowCannotBeJudged_TheOthersStillAre_AndThePassSaysSo()
    {
        await PutTableAsync(Shadow("unreadable", ShadowState.PreWarmed, "shadows-orders-1"), Shadow("failing", ShadowState.PreWarmed, "shadows-orders-1"));
        await StoreOutcomesAsync("failing", status: 500);
        var store = new UnreadableOutcomes(_store, "unreadable");
        var revalidation = new ShadowRevalidation(new RoutingTableStore(store, _bus), new ShadowValidator(store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        var error = await Assert.ThrowsAsync<AggregateException>(() => revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));

        Assert.IsType<StateStoreException>(Assert.Single(error.InnerExceptions));
        Assert.Contains("(1 failing: orders/failing)", error.Message, StringComparison.Ordinal); // the Functions timer's summary line is not reached
        await _bus.Received(1).PublishAsync(Topics.ShadowVerdicts, Arg.Is<ShadowVerdictNotice>(n => n.ShadowId == "failing"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task RunOnce_TheNoticeCannotBePublished_TheShadowStaysRouted_AndTheNextTickTriesAgain()
    {
        await PutTableAsync(Shadow("standby", ShadowState.PreWarmed, "shadows-orders-1"));
        await StoreOutcomesAsync("standby", status: 500);
        _bus.PublishAsync(Topics.ShadowVerdicts, Arg.Any<ShadowVerdictNotice>(), Arg.Any<CancellationToken>()).Returns(Task.FromException(new EventBusException("pub/sub unavailable")), Task.CompletedTask);
        var revalidation = new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        await Assert.ThrowsAsync<AggregateException>(() => revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));
        Assert.Equal(ShadowState.PreWarmed, await StateAsync("standby")); // moved without a notice, nobody would ever bring it back

        Assert.Single(await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));
        Assert.Equal(ShadowState.Validating, await StateAsync("standby"));
    }

    [Fact]
    public async Task RunOnce_AShadowPromotedWhileItWasJudged_KeepsItsTraffic()
    {
        await PutTableAsync(Shadow("standby", ShadowState.PreWarmed, "shadows-orders-1"));
        await StoreOutcomesAsync("standby", status: 500);
        var store = new PromotedOnFirstRead(_store, _bus);
        var revalidation = new ShadowRevalidation(new RoutingTableStore(store, _bus), new ShadowValidator(store, _bus, new FakeTimeProvider(Now)), _bus, new FakeTimeProvider(Now));

        Assert.Single(await revalidation.RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken));

        Assert.Equal(ShadowState.Active, await StateAsync("standby"));
    }

    private Task<IReadOnlyList<ShadowVerdictNotice>> TickAsync(DateTimeOffset at)
    {
        var time = new FakeTimeProvider(at);
        return new ShadowRevalidation(new RoutingTableStore(_store, _bus), new ShadowValidator(_store, _bus, time), _bus, time).RunOnceAsync(TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);
    }

    private async Task<ShadowState> StateAsync(string shadowId) =>
        (await new RoutingTableStore(_store, _bus).GetAsync("orders", TestContext.Current.CancellationToken))!.Value.Shadows.Single(s => s.Id == shadowId).State;

    /// <summary>The routing table of "orders": one production endpoint and <paramref name="shadows"/>.</summary>
    private Task PutTableAsync(params ShadowEndpoint[] shadows) => new RoutingTableStore(_store, _bus).PutAsync(new RoutingTable
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
        Shadows = shadows,
    }, TestContext.Current.CancellationToken);

    private static ShadowEndpoint Shadow(string id, ShadowState state, string? owner) =>
        new() { Id = id, Address = "http://127.0.0.1:2", State = state, Owner = owner, StateChangedAt = Now.AddHours(-1) };

    /// <summary>Sixty mirrored answers of <paramref name="shadowId"/> in the last minutes, production answering 200.</summary>
    private async Task StoreOutcomesAsync(string shadowId, int status, TimeSpan before = default, int count = 60)
    {
        var outcomes = Enumerable.Range(0, count).Select(i => new MirrorOutcome
        {
            RequestId = $"{shadowId}-{before.TotalMinutes}-{i}",
            Service = "orders",
            Method = "GET",
            Path = "/items",
            ReceivedAt = Now - before - TimeSpan.FromSeconds(i),
            Production = new EndpointAnswer("p1", 200, 20 + (i % 7), 10, "d"),
            Copy = new EndpointAnswer(shadowId, status, 20 + (i % 5), 10, status == 200 ? "d" : "e"),
            Compared = status == 200,
        }).ToArray();
        await StoredOutcomes.SaveAsync(_store, outcomes);
    }

    /// <summary>A store whose outcome slots of one shadow cannot be listed.</summary>
    private sealed class UnreadableOutcomes(IStateStore inner, string shadow) : DelegatingStateStore(inner)
    {
        public override Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default) =>
            prefix.StartsWith(StateKeys.OutcomesPrefix, StringComparison.Ordinal) && prefix.Contains($"/{shadow}/", StringComparison.Ordinal)
                ? throw new StateStoreException("the store timed out")
                : base.ListKeysAsync(prefix, cancellationToken);
    }

    /// <summary>A store where an operator promotes the shadow to Active while its outcomes are first read.</summary>
    private sealed class PromotedOnFirstRead(IStateStore store, IEventBus bus) : DelegatingStateStore(store)
    {
        private readonly RoutingTableStore _tables = new(store, bus);
        private int _promoted;

        public override async Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
        {
            if (prefix.StartsWith(StateKeys.OutcomesPrefix, StringComparison.Ordinal) && Interlocked.Exchange(ref _promoted, 1) == 0)
            {
                await _tables.MoveShadowAsync("orders", "standby", ShadowState.Active, Now, cancellationToken);
            }

            return await base.ListKeysAsync(prefix, cancellationToken);
        }
    }
}
