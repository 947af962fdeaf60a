using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Core.Tests.Routing;

public sealed class RoutingTableStoreTests
{
    private readonly IStateStore _state = Substitute.For<IStateStore>();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly RoutingTableStore _store;

    public RoutingTableStoreTests() => _store = new RoutingTableStore(_state, _bus);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PutAsync_ValidTable_SavesUnderRoutingKeyAndAnnounces()
    {
        await _store.PutAsync(Tables.Orders(), Ct);

        await _state.Received(1).SaveAsync("routing/orders", Arg.Any<ReadOnlyMemory<byte>>(), null, Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.RoutingChanged, new RoutingChanged("orders"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task ListAsync_ATableThatCannotBeRead_IsHandedToTheCallback_TheOthersListed_WithoutItListingThrows()
    {
        var state = new Shadowing.TestUtilities.State.InMemoryStateStore();
        var tables = new RoutingTableStore(state, _bus);
        await tables.PutAsync(Tables.Orders(), Ct);
        await state.SaveAsync("routing/billing", "null"u8.ToArray(), etag: null, Ct);
        await state.SaveAsync("routing/payments", """{"service":"payments","production":[],"shadows":[{"id":"s1","address":"http://127.0.0.1:1","state":"Hibernating"}]}"""u8.ToArray(), etag: null, Ct);
        var unreadable = new List<string>();

        var listed = await tables.ListAsync((service, _) => unreadable.Add(service), Ct);

        Assert.Equal("orders", Assert.Single(listed).Value.Service);
        Assert.Equal(["billing", "payments"], unreadable);
        await Assert.ThrowsAnyAsync<System.Text.Json.JsonException>(() => tables.ListAsync(Ct));
    }

    [Fact]
    public async Task PutAsync_PubSubRefusesTheAnnouncement_TheStoredWriteStands()
    {
        _bus.PublishAsync(Topics.RoutingChanged, Arg.Any<RoutingChanged>(), Arg.Any<CancellationToken>()).Returns(Task.FromException(new EventBusException("pub/sub unavailable")));

        await _store.PutAsync(Tables.Orders(), Ct);

        await _state.Received(1).SaveAsync("routing/orders", Arg.Any<ReadOnlyMemory<byte>>(), null, Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.RoutingChanged, new RoutingChanged("orders"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task PutAsync_AnnouncementFailsBecauseTheCallerCancelled_TheCallerHearsOfIt()
    {
        using var cancelled = new CancellationTokenSource();
        _bus.PublishAsync(Topics.RoutingChanged, Arg.Any<RoutingChanged>(), Arg.Any<CancellationToken>()).Returns(_ =>
        {
            cancelled.Cancel();
            return Task.FromException(new EventBusException("publish cancelled"));
        });

        await Assert.ThrowsAsync<EventBusException>(() => _store.PutAsync(Tables.Orders(), cancelled.Token));
    }

    [Fact]
    public async Task PutAsync_OtherPublishFailures_StillReachTheCaller()
    {
        _bus.PublishAsync(Topics.RoutingChanged, Arg.Any<RoutingChanged>(), Arg.Any<CancellationToken>()).Returns(Task.FromException(new ObjectDisposedException("bus")));

        await Assert.ThrowsAsync<ObjectDisposedException>(() => _store.PutAsync(Tables.Orders(), Ct));
    }

    [Fact]
    public async Task PutAsync_InvalidTable_WritesNothing()
    {
        await Assert.ThrowsAsync<RoutingTableValidationException>(() => _store.PutAsync(new RoutingTable { Service = "orders" }, Ct));

        await _state.DidNotReceive().SaveAsync(Arg.Any<string>(), Arg.Any<ReadOnlyMemory<byte>>(), Arg.Any<string?>(), Arg.Any<CancellationToken>());
        await _bus.DidNotReceive().PublishAsync(Arg.Any<string>(), Arg.Any<RoutingChanged>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task PutOrCreate_AServiceDifferingOnlyInCaseFromAStoredOne_RefusedOrKept_WritingNothing()
    {
        _state.ListKeysAsync(StateKeys.RoutingPrefix, Arg.Any<CancellationToken>()).Returns(["routing/orders"]);
        var twin = Tables.Orders() with { Service = "Orders" };

        var put = await Assert.ThrowsAsync<RoutingTableValidationException>(() => _store.PutAsync(twin, Ct));
        Assert.False(await _store.CreateAsync(twin, Ct)); // as for a service that has a table: the stored one is kept
        await Assert.ThrowsAsync<RoutingTableValidationException>(() => _store.UpdateAsync("Orders", _ => twin, Ct)); // an update that would create it

        Assert.Equal("service: 'Orders' differs only in case from the stored service 'orders', and the router matches service names ignoring case", Assert.Single(put.Errors).ToString());
        await _state.DidNotReceive().SaveAsync(Arg.Any<string>(), Arg.Any<ReadOnlyMemory<byte>>(), Arg.Any<string?>(), Arg.Any<CancellationToken>());
        await _state.DidNotReceive().TryCreateAsync(Arg.Any<string>(), Arg.Any<ReadOnlyMemory<byte>>(), Arg.Any<CancellationToken>());

        // Twins stored before this rule: each is still rewritten under its own name.
        _state.ListKeysAsync(StateKeys.RoutingPrefix, Arg.Any<CancellationToken>()).Returns(["routing/Orders", "routing/orders"]);
        await _store.PutAsync(Tables.Orders(), Ct);
        await _state.Received(1).SaveAsync("routing/orders", Arg.Any<ReadOnlyMemory<byte>>(), null, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Put_RulesAddedSinceTablesWereStored_RefuseANewTable_ButAStoredOnesUpdatesStillWork()
    {
        var legacy = Tables.Orders() with { Mirror = new Core.Mirroring.MirrorPolicy { Percent = 5, Methods = [] } };
        _state.GetAsync("routing/orders", Arg.Any<CancellationToken>()).Returns(new StateItem("routing/orders", ShadowingJson.Serialize(legacy), "1"));

        var refused = await Assert.ThrowsAsync<RoutingTableValidationException>(() => _store.PutAsync(legacy, Ct));
        var updated = await _store.UpdateAsync("orders", t => t! with { Mirror = t.Mirror! with { Percent = 10 } }, Ct);

        Assert.Equal("mirror.methods", Assert.Single(refused.Errors).Field);
        Assert.Equal(10, updated.Mirror!.Percent);

        // Seeding from a file: the stored table is kept (nothing is written); a service without one is refused.
        Assert.False(await _store.CreateAsync(legacy, Ct));
        await Assert.ThrowsAsync<RoutingTableValidationException>(() => _store.CreateAsync(legacy with { Service = "payments" }, Ct));
        await _state.DidNotReceive().TryCreateAsync(Arg.Any<string>(), Arg.Any<ReadOnlyMemory<byte>>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task UpdateAsync_Conflict_RereadsAndRetriesWithNewETag()
    {
        var v1 = Tables.Orders() with { Shadows = [Tables.Shadow("s1", ShadowState.Validating)] };
        _state.GetAsync("routing/orders", Arg.Any<CancellationToken>()).Returns(
            new StateItem("routing/orders", ShadowingJson.Serialize(v1), "1"),
            new StateItem("routing/orders", ShadowingJson.Serialize(v1), "2"));
        _state.SaveAsync("routing/orders", Arg.Any<ReadOnlyMemory<byte>>(), "1", Arg.Any<CancellationToken>())
            .Returns(Task.FromException(new StateConflictException("routing/orders")));

        var written = await _store.UpdateAsync("orders", t => t!.WithShadowState("s1", ShadowState.PreWarmed, DateTimeOffset.UnixEpoch), Ct);

        Assert.Equal(ShadowState.PreWarmed, written.Shadows[0].State);
        await _state.Received(1).SaveAsync("routing/orders", Arg.Any<ReadOnlyMemory<byte>>(), "2", Arg.Any<CancellationToken>());
        await _bus.Received(1).PublishAsync(Topics.RoutingChanged, new RoutingChanged("orders"), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task AddShadowAsync_PrunesAnOldRetiredShadow_AndItsMirrorTarget_AnEmptiedListTurnsMirroringOff()
    {
        var tables = new RoutingTableStore(new Shadowing.TestUtilities.State.InMemoryStateStore(), _bus);
        var now = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        await tables.PutAsync(Tables.Orders() with
        {
            Shadows = [Tables.Shadow("old", ShadowState.Retired) with { StateChangedAt = now.AddDays(-2) }],
            Mirror = new Shadowing.Core.Mirroring.MirrorPolicy { Enabled = true, Percent = 10, Targets = ["old"] }, // left behind by a retirement that stopped midway
        }, Ct);

        var written = await tables.AddShadowAsync("orders", Tables.Shadow("new", ShadowState.Provisioning), pruneRetiredBefore: now.AddDays(-1), Ct);

        Assert.Equal(["new"], written.Shadows.Select(s => s.Id));
        Assert.Equal((false, 0), (written.Mirror!.Enabled, written.Mirror.Targets.Count));
    }

    [Theory]
    [InlineData(ShadowState.Validating, ShadowState.WarmingUp)] // still being validated: moved
    [InlineData(ShadowState.PreWarmed, ShadowState.PreWarmed)] // moved on meanwhile: left where it is
    public async Task MoveShadowFromAsync_MovesOnlyFromTheGivenStates(ShadowState state, ShadowState expected)
    {
        var tables = new RoutingTableStore(new Shadowing.TestUtilities.State.InMemoryStateStore(), _bus);
        var now = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        await tables.PutAsync(Tables.Orders() with { Shadows = [Tables.Shadow("s1", state) with { StateChangedAt = now.AddMinutes(-5) }] }, Ct);

        var before = await tables.MoveShadowFromAsync("orders", "s1", [ShadowState.Validating], ShadowState.WarmingUp, now, Ct);

        Assert.Equal(state, before);
        var shadow = Assert.Single((await tables.GetAsync("orders", Ct))!.Value.Shadows);
        Assert.Equal((expected, expected == state ? now.AddMinutes(-5) : now), (shadow.State, shadow.StateChangedAt!.Value));
    }

    [Fact]
    public async Task ListAsync_KeyDeletedAfterListing_IsSkipped()
    {
        _state.ListKeysAsync("routing/", Arg.Any<CancellationToken>()).Returns(["routing/gone", "routing/orders"]);
        _state.GetAsync("routing/orders", Arg.Any<CancellationToken>()).Returns(new StateItem("routing/orders", ShadowingJson.Serialize(Tables.Orders()), "7"));

        var tables = await _store.ListAsync(Ct);

        var entry = Assert.Single(tables);
        Assert.Equal("orders", entry.Value.Service);
        Assert.Equal("7", entry.ETag);
    }

    [Fact]
    public void Json_RoundTrip_KeepsEnumsAsStrings()
    {
        var table = Tables.Orders() with { Shadows = [Tables.Shadow("s1", ShadowState.PreWarmed)] };

        var json = System.Text.Encoding.UTF8.GetString(ShadowingJson.Serialize(table));
        var back = ShadowingJson.Deserialize<RoutingTable>(System.Text.Encoding.UTF8.GetBytes(json));

        Assert.Contains("\"state\":\"PreWarmed\"", json, StringComparison.Ordinal);
        Assert.Equal("orders", back.Service);
        Assert.Equal(ShadowState.PreWarmed, back.Shadows[0].State);
        Assert.Equal(250, back.Production[1].MaxLatencyMs);
    }
}
