using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Forecasting.Planning;
using Shadowing.TestUtilities.State;

namespace Shadowing.Forecasting.Tests.Planning;

public sealed class ShadowRequestStoreTests
{
    private static readonly DateTimeOffset T = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _state = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly ShadowRequestStore _store;

    public ShadowRequestStoreTests() => _store = new ShadowRequestStore(_state, _bus);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Submit_New_StoresUnderServiceAndPublishes()
    {
        var (stored, published) = await _store.SubmitAsync(Request(T, T.AddHours(1), 2), Ct);

        Assert.True(published);
        Assert.Equal(["shadow-requests/orders/20261126T1200Z"], await _state.ListKeysAsync("shadow-requests/orders/", Ct));
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, stored, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Submit_SameAgain_IsIdempotent()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(1), 2), Ct);

        var (_, published) = await _store.SubmitAsync(Request(T, T.AddHours(1), 2) with { Reason = "again", UpdatedAt = T.AddMinutes(5) }, Ct);

        Assert.False(published);
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, Arg.Any<ShadowRequest>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Submit_OverlappingLaterAndBigger_MergesIntoTheOpenRequest()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(1), 2), Ct);

        var (merged, published) = await _store.SubmitAsync(Request(T.AddMinutes(30), T.AddHours(2), 3), Ct);

        Assert.True(published);
        Assert.Equal("orders/20261126T1200Z", merged.Id);
        Assert.Equal(3, merged.Count);
        Assert.Equal(T.AddHours(2), merged.WindowEnd);
        Assert.Single(await _state.ListKeysAsync("shadow-requests/orders/", Ct));
    }

    [Fact]
    public async Task Shorten_OpenRequest_StoresAndPublishesTheEarlierEnd_OnceAndWithOneNote()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(2), 2), Ct);
        await _store.SubmitAsync(Request(T.AddHours(3), T.AddHours(4), 1), Ct);

        var first = await _store.ShortenAsync("orders", r => r.WindowStart == T ? T.AddMinutes(45) : null, "less demand", T.AddMinutes(10), Ct);
        var again = await _store.ShortenAsync("orders", r => r.WindowStart == T ? T.AddMinutes(45) : null, "less demand", T.AddMinutes(15), Ct);
        var further = Assert.Single(await _store.ShortenAsync("orders", r => r.WindowStart == T ? T.AddMinutes(30) : null, "even less", T.AddMinutes(20), Ct));

        var shortened = Assert.Single(first);
        Assert.Equal((T.AddMinutes(45), T.AddMinutes(10)), (shortened.WindowEnd, shortened.UpdatedAt));
        Assert.Empty(again); // the same end again changes nothing
        Assert.Equal("test; shortened at 2026-11-26 12:20:00Z to end at 2026-11-26 12:30:00Z: even less", further.Reason);
        var stored = (await _state.GetJsonAsync<ShadowRequest>("shadow-requests/orders/20261126T1200Z", Ct))!.Value;
        Assert.Equal((further.WindowEnd, further.Reason, further.UpdatedAt), (stored.WindowEnd, stored.Reason, stored.UpdatedAt));
        Assert.Equal(T.AddHours(4), (await _state.GetJsonAsync<ShadowRequest>("shadow-requests/orders/20261126T1500Z", Ct))!.Value.WindowEnd);
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, shortened, Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, further, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Shorten_RequestWhoseWindowHasEnded_IsLeftAlone()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(1), 2), Ct);

        Assert.Empty(await _store.ShortenAsync("orders", _ => T.AddMinutes(30), "less demand", T.AddHours(1), Ct));
    }

    [Fact]
    public async Task Submit_ARiskHoldIntoADemandWindow_KeepsTheLaterHoldEnd_AndALaterHoldAloneIsAChange()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(2), 2), Ct);
        await _store.SubmitAsync(Request(T.AddMinutes(5), T.AddHours(1), 1) with { Kinds = [ShadowRequestKind.Risk], RiskUntil = T.AddHours(1) }, Ct);

        var (stored, published) = await _store.SubmitAsync(Request(T.AddMinutes(10), T.AddMinutes(70), 1) with { Kinds = [ShadowRequestKind.Risk], RiskUntil = T.AddMinutes(70) }, Ct);

        Assert.True(published); // only the hold's end moved: still a change the window's shortening must know of
        Assert.Equal((T.AddHours(2), T.AddMinutes(70), 2), (stored.WindowEnd, stored.RiskUntil, stored.Count));
        Assert.False((await _store.SubmitAsync(Request(T.AddMinutes(10), T.AddMinutes(40), 1) with { Kinds = [ShadowRequestKind.Risk], RiskUntil = T.AddMinutes(40) }, Ct)).Published);
    }

    [Fact]
    public async Task Submit_DemandIntoAnOperatorsWindow_KeepsTheOperatorsEnd_ForTheWindowToShortenTo()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(1), 1) with { Kinds = [ShadowRequestKind.Manual], ManualUntil = T.AddHours(1) }, Ct);

        var (stored, _) = await _store.SubmitAsync(Request(T.AddMinutes(45), T.AddHours(2), 2), Ct);

        Assert.Equal((T.AddHours(2), T.AddHours(1), 2), (stored.WindowEnd, stored.ManualUntil, stored.Count));
        Assert.True((await _store.SubmitAsync(Request(T.AddMinutes(50), T.AddMinutes(90), 1) with { Kinds = [ShadowRequestKind.Manual], ManualUntil = T.AddMinutes(90) }, Ct)).Published); // a later operator's end alone is a change
    }

    [Fact]
    public async Task Submit_IntoAnOperatorsRequestStoredBeforeManualUntil_ItsWholeWindowCountsAsTheOperatorsEnd()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(4), 1) with { Kinds = [ShadowRequestKind.Manual] }, Ct);

        var (stored, _) = await _store.SubmitAsync(Request(T.AddMinutes(30), T.AddHours(1), 2) with { Kinds = [ShadowRequestKind.Manual], ManualUntil = T.AddHours(1) }, Ct);

        Assert.Equal((T.AddHours(4), T.AddHours(4)), (stored.WindowEnd, stored.ManualUntil));
    }

    [Fact]
    public async Task Submit_TouchingAnEndedRequestAndOverlappingAnOpenOne_MergesIntoTheOpenOne()
    {
        // A risk window that starts where an earlier request ended and runs into a later one: merged into the earlier
        // (listed first) it would run beside the later one, doubling the shadows for the later one's window.
        await _store.SubmitAsync(Request(T, T.AddMinutes(40), 1), Ct);
        await _store.SubmitAsync(Request(T.AddMinutes(45), T.AddMinutes(90), 2), Ct);

        var (merged, _) = await _store.SubmitAsync(Request(T.AddMinutes(40), T.AddMinutes(100), 1), Ct);

        Assert.Equal(("orders/20261126T1245Z", T.AddMinutes(100)), (merged.Id, merged.WindowEnd));
        Assert.Equal(T.AddMinutes(40), (await _state.GetJsonAsync<ShadowRequest>("shadow-requests/orders/20261126T1200Z", Ct))!.Value.WindowEnd);
    }

    [Fact]
    public async Task Submit_OverlappingTwoOpenRequests_MergesIntoTheEarlierOne_SoNoPartOfItsWindowIsLeftUncovered()
    {
        await _store.SubmitAsync(Request(T.AddHours(1), T.AddHours(2), 1), Ct);
        await _store.SubmitAsync(Request(T.AddHours(2.5), T.AddHours(4), 1), Ct);

        var (merged, published) = await _store.SubmitAsync(Request(T.AddHours(1.5), T.AddHours(3), 1), Ct);

        Assert.Equal(("orders/20261126T1300Z", T.AddHours(3), true), (merged.Id, merged.WindowEnd, published)); // 14:00-14:30 covered
    }

    [Fact]
    public async Task Submit_AWindowRoundedDownIntoAnEndedRequest_MergesIntoTheOpenOne()
    {
        // Asked at 12:42 for a window the PAE rounded down to 12:35: it overlaps the request that ended at 12:40 too.
        await _store.SubmitAsync(Request(T, T.AddMinutes(40), 1), Ct);
        await _store.SubmitAsync(Request(T.AddMinutes(45), T.AddMinutes(90), 2), Ct);

        var (merged, _) = await _store.SubmitAsync(Request(T.AddMinutes(35), T.AddMinutes(100), 1) with { UpdatedAt = T.AddMinutes(42) }, Ct);

        Assert.Equal("orders/20261126T1245Z", merged.Id);
    }

    [Fact]
    public async Task Submit_OverlappingARequestReleasedByHand_IsANewRequest_TheReleasedOneUnchanged()
    {
        var booked = await BookedAsync(); // 12:00-20:00, its workflow shadows-orders-20261126T1200Z
        var forecast = Request(T.AddHours(2), T.AddHours(3), 2) with { UpdatedAt = T.AddHours(1) };
        Assert.True(await _store.SubmitAsync(forecast, Ct) is { Stored.Id: "orders/20261126T1200Z" }); // merged while it runs
        await ReleaseByHandAsync(T.AddHours(1));

        var (stored, published) = await _store.SubmitAsync(Request(T.AddHours(2), T.AddHours(3), 3) with { UpdatedAt = T.AddHours(1).AddMinutes(5) }, Ct);

        Assert.Equal(("orders/20261126T1400Z", true), (stored.Id, published));
        Assert.Equal(2, (await _state.ListKeysAsync("shadow-requests/orders/", Ct)).Count);
        Assert.Equal(2, (await _state.GetJsonAsync<ShadowRequest>("shadow-requests/orders/20261126T1200Z", Ct))!.Value.Count); // not merged into
        Assert.True(await _store.ReleasedByHandAsync(booked.Id, Ct));
    }

    [Fact]
    public async Task Submit_TheSameStartAsARequestReleasedByHand_IsNotMergedIntoIt()
    {
        await BookedAsync(); // 12:00-20:00, its workflow shadows-orders-20261126T1200Z
        await ReleaseByHandAsync(T);

        var (stored, published) = await _store.SubmitAsync(Request(T, T.AddHours(2), 3) with { UpdatedAt = T.AddMinutes(1) }, Ct);

        Assert.False(published);
        Assert.Equal((1, T.AddHours(8)), (stored.Count, stored.WindowEnd)); // left as released: nothing reopens it
    }

    [Fact]
    public async Task Submit_Disjoint_IsANewRequest()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(1), 2), Ct);

        await _store.SubmitAsync(Request(T.AddHours(3), T.AddHours(4), 1), Ct);

        Assert.Equal(2, (await _state.ListKeysAsync("shadow-requests/orders/", Ct)).Count);
    }

    [Fact]
    public async Task Submit_TwoOverlappingWithDifferentStartMinutesAtOnce_CreateOneRequest()
    {
        // A (the PAE at 12:00) lists the service's requests and finds none; before it creates its own, B (an operator's
        // request from 12:05) is listed, created and published. Their keys differ, so create-if-absent cannot stop A.
        var store = new ShadowRequestStore(new ListThenRun(_state, () => _store.SubmitAsync(Request(T.AddMinutes(5), T.AddHours(2), 1), Ct)), _bus);

        var (a, aPublished) = await store.SubmitAsync(Request(T, T.AddHours(1), 3), Ct);

        var key = Assert.Single(await _state.ListKeysAsync("shadow-requests/orders/", Ct)); // one window, one workflow
        Assert.Equal("shadow-requests/orders/20261126T1205Z", key);
        var stored = (await _state.GetJsonAsync<ShadowRequest>(key, Ct))!.Value;
        Assert.Equal((3, T.AddHours(2)), (stored.Count, stored.WindowEnd)); // A merged into B: the larger count, the later end
        Assert.Equal((stored.Id, true), (a.Id, aPublished));
        await _bus.DidNotReceive().PublishAsync(Topics.ShadowRequests, Arg.Is<ShadowRequest>(r => r.Id == "orders/20261126T1200Z"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Submit_TwoDisjointAtOnce_BothAreCreated()
    {
        var store = new ShadowRequestStore(new ListThenRun(_state, () => _store.SubmitAsync(Request(T.AddHours(3), T.AddHours(4), 1), Ct)), _bus);

        var (_, published) = await store.SubmitAsync(Request(T, T.AddHours(1), 3), Ct);

        Assert.True(published);
        Assert.Equal(["shadow-requests/orders/20261126T1200Z", "shadow-requests/orders/20261126T1500Z"], await _state.ListKeysAsync("shadow-requests/orders/", Ct));
        await _bus.Received(2).PublishAsync(Topics.ShadowRequests, Arg.Any<ShadowRequest>(), Arg.Any<CancellationToken>());
    }

    /// <summary>An operator's request for 12:00-20:00, admitted with workflow shadows-orders-20261126T1200Z.</summary>
    private async Task<ShadowRequest> BookedAsync()
    {
        var (booked, _) = await _store.SubmitAsync(Request(T, T.AddHours(8), 1) with { Kinds = [ShadowRequestKind.Manual] }, Ct);
        await _state.SaveJsonAsync(StateKeys.ShadowPlan(booked.Id), new ShadowPlan
        {
            RequestId = booked.Id, Service = "orders", Count = 1, WindowStart = T, WindowEnd = T.AddHours(8), Decision = ShadowPlanDecision.Admitted,
            Reason = "test", EndpointHours = 8, InstanceId = "shadows-orders-20261126T1200Z", DecidedAt = T,
        }, cancellationToken: Ct);
        return booked;
    }

    /// <summary>Its workflow released through the control API at <paramref name="at"/>, as the API marks it.</summary>
    private Task ReleaseByHandAsync(DateTimeOffset at) =>
        _state.SaveJsonAsync(StateKeys.ShadowOverride("shadows-orders-20261126T1200Z"), new ShadowOverride("release", "oncall", at) { ReleasedAt = at }, cancellationToken: Ct);

    private static ShadowRequest Request(DateTimeOffset start, DateTimeOffset end, int count) => new()
    {
        Id = ShadowRequest.IdOf("orders", start),
        Service = "orders",
        Count = count,
        WindowStart = start,
        WindowEnd = end,
        Kinds = [ShadowRequestKind.Demand],
        Reason = "test",
        CreatedAt = start,
        UpdatedAt = start,
    };

    /// <summary>Runs <paramref name="other"/> once, after the first listing was read and before it is returned: the listing is stale.</summary>
    private sealed class ListThenRun(IStateStore inner, Func<Task> other) : DelegatingStateStore(inner)
    {
        private Func<Task>? _other = other;

        public override async Task<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken = default)
        {
            var keys = await base.ListKeysAsync(prefix, cancellationToken);
            if (Interlocked.Exchange(ref _other, null) is { } run)
            {
                await run();
            }

            return keys;
        }
    }
}
