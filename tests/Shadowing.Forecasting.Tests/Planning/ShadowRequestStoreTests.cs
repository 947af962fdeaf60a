using Shadowing.Core.Messaging;
using Shadowing.Core.Shadows;
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
    public async Task Submit_Disjoint_IsANewRequest()
    {
        await _store.SubmitAsync(Request(T, T.AddHours(1), 2), Ct);

        await _store.SubmitAsync(Request(T.AddHours(3), T.AddHours(4), 1), Ct);

        Assert.Equal(2, (await _state.ListKeysAsync("shadow-requests/orders/", Ct)).Count);
    }

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
}
