using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Data;
using Shadowing.Core.Data.Synthetic;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Dapr.State;
using Shadowing.Embedded.State;
using Shadowing.TestUtilities.Dapr;
using Shadowing.Workflows.Data;

namespace Shadowing.Workflows.Tests.Data;

public sealed class ShadowDataServiceTests : IDisposable
{
    /// <summary>The meter factory of each service <see cref="Create"/> made, for <see cref="ObservedLag"/>.</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ShadowDataService, IMeterFactory> Factories = [];

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private readonly SqliteStateStore _store;
    private readonly RoutingTableStore _tables;

    public ShadowDataServiceTests()
    {
        _store = new SqliteStateStore(SqliteStateStore.InMemory, _time);
        _tables = new RoutingTableStore(_store, Substitute.For<IEventBus>());
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _store.Dispose();

    /// <summary>A service over <paramref name="store"/> with the given settings per service (none: every service without sync).</summary>
    public static ShadowDataService Create(IStateStore store, RoutingTableStore tables, TimeProvider time, IChangeFeed? feed = null, Dictionary<string, ShadowDataOptions>? settings = null, IProductionData? production = null)
    {
        var options = Substitute.For<IOptionsMonitor<ShadowDataOptions>>();
        options.Get(Arg.Any<string>()).Returns(call => settings?.GetValueOrDefault(call.Arg<string>()) ?? new ShadowDataOptions());
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var service = new ShadowDataService(tables, store, feed, options, Options.Create(new Shadowing.Workflows.Lifecycle.ShadowLifecycleOptions()), meters, time, NullLogger<ShadowDataService>.Instance, production);
        Factories.Add(service, meters);
        return service;
    }

    [Fact]
    public async Task Sync_Differential_CopiesTheData_MarksTheShadowIsolated_AndTheTickKeepsItCurrent()
    {
        await SeedAsync();
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } });

        var record = await data.SyncAsync("orders", "s1", Ct);
        await _store.SaveAsync("data/orders/o3", "three"u8.ToArray(), etag: null, Ct);
        await data.SyncAllAsync(Ct);

        Assert.Equal("differential", record.Mode);
        Assert.Contains("seeded (2 copied", record.Note, StringComparison.Ordinal);
        var shadow = (await _tables.GetAsync("orders", Ct))!.Value.Shadows.Single(s => s.Id == "s1");
        Assert.Equal((true, true), (shadow.DataIsolated, shadow.DataMasked)); // masked by default: the mirror sends it no writes
        Assert.Equal(["shadow-data/orders/s1/o1", "shadow-data/orders/s1/o2", "shadow-data/orders/s1/o3"], await _store.ListKeysAsync("shadow-data/orders/s1/", Ct));
        Assert.Equal("three", Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/o3", Ct))!.Value.Span));
    }

    [Fact]
    public async Task Sync_Synthetic_GeneratesAsManyRecordsAsProductionHas_FromItsProfile_AndIsolatesTheShadow()
    {
        await SeedOrdersAsync(_store, _tables, write: (key, value) => _store.SaveAsync(key, value, etag: null, Ct));
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Synthetic } });

        var record = await data.SyncAsync("orders", "s1", Ct);

        Assert.Equal(("synthetic", "4 synthetic record(s) from a profile of 4 production record(s), seed 1"), (record.Mode, record.Note));
        Assert.Equal(4, (await _store.ListKeysAsync("shadow-data/orders/s1/", Ct)).Count);
        var shadow = (await _tables.GetAsync("orders", Ct))!.Value.Shadows.Single(s => s.Id == "s1");
        Assert.Equal((true, true), (shadow.DataIsolated, shadow.DataMasked));
    }

    [Theory]
    [InlineData(DataSyncMode.Synthetic)]
    [InlineData(DataSyncMode.Differential)]
    public async Task Sync_OnDapr_ReadsTheRecordsTheOutboxWrote_FromTheServicesOwnComponent(DataSyncMode mode)
    {
        // Production data is in data-orders, with keys of its own: statestore neither holds it nor lists it.
        await using var sidecar = await FakeDaprSidecar.StartAsync(FakeStoreMode.Redis);
        sidecar.State.Outboxes["data-orders"] = ("pubsub", Topics.DataChanges("orders"));
        var store = new DaprStateStore(sidecar.CreateClient(), _time);
        var production = new DaprProductionData(sidecar.CreateClient(), _time);
        var tables = new RoutingTableStore(store, Substitute.For<IEventBus>());
        var feed = new OutboxChangeFeed(store, ["orders"]);
        var writer = new OutboxDataWriter(sidecar.CreateClient(), _time, "data-orders");
        await SeedOrdersAsync(production.Of("orders"), tables, write: async (key, value) =>
        {
            await writer.UpsertAsync(key, value, Ct);
            await feed.AppendAsync("orders", new DataChangeMessage(key, DataChangeKind.Upsert, _time.GetUtcNow(), value), Ct); // as the subscription does
        });
        var data = Create(store, tables, _time, feed, new() { ["orders"] = new ShadowDataOptions { Mode = mode, Mask = false } }, production);

        var record = await data.SyncAsync("orders", "s1", Ct);

        Assert.Null(await store.GetAsync("data/orders/o1", Ct));
        Assert.Empty(await store.ListKeysAsync("data/orders/", Ct));
        var copy = await store.ListKeysAsync("shadow-data/orders/s1/", Ct);
        Assert.Equal(4, copy.Count);
        if (mode == DataSyncMode.Synthetic)
        {
            Assert.Equal("4 synthetic record(s) from a profile of 4 production record(s), seed 1", record.Note);
        }
        else
        {
            Assert.Equal("{\"id\":\"o2\",\"total\":20,\"email\":\"c2@contoso.com\"}", Encoding.UTF8.GetString((await store.GetAsync("shadow-data/orders/s1/o2", Ct))!.Value.Span));
        }

        // An unmasked copy takes mirrored writes; a synthetic one never does.
        Assert.Equal(mode == DataSyncMode.Synthetic, (await tables.GetAsync("orders", Ct))!.Value.Shadows.Single(s => s.Id == "s1").DataMasked);
    }

    [Fact]
    public async Task SyncAll_OneServicesSettingsInvalid_TheOthersAreStillKeptCurrent()
    {
        await SeedAsync();
        await _tables.PutAsync(new RoutingTable { Service = "billing", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:3", MaxConcurrency = 10 }], Shadows = [new ShadowEndpoint { Id = "b1", Address = "http://127.0.0.1:4", State = ShadowState.WarmingUp, DataIsolated = true }] }, Ct);
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } });
        await data.SyncAsync("orders", "s1", Ct);
        var options = Substitute.For<IOptionsMonitor<ShadowDataOptions>>();
        options.Get("orders").Returns(new ShadowDataOptions { Mode = DataSyncMode.Differential });
        options.Get("billing").Returns(_ => throw new OptionsValidationException("billing", typeof(ShadowDataOptions), ["Shift must be between 00:01:00 and 7.00:00:00."]));
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var tick = new ShadowDataService(_tables, _store, _store, options, Options.Create(new Shadowing.Workflows.Lifecycle.ShadowLifecycleOptions()), meters, _time, NullLogger<ShadowDataService>.Instance);
        await _store.SaveAsync("data/orders/o3", "three"u8.ToArray(), etag: null, Ct);

        await tick.SyncAllAsync(Ct); // billing is listed first

        Assert.Equal("three", Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/o3", Ct))!.Value.Span));
    }

    [Fact]
    public async Task Sync_NoneAsked_OrNoChangeFeed_RecordsWhy_AndLeavesTheShadowNotIsolated()
    {
        await SeedAsync();

        var none = await Create(_store, _tables, _time, _store).SyncAsync("orders", "s1", Ct);
        var noFeed = await Create(_store, _tables, _time, feed: null, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } }).SyncAsync("orders", "s1", Ct);

        Assert.Equal(("none", "no data sync requested (Shadowing:Sep:Data:orders:Mode)"), (none.Mode, none.Note));
        Assert.Contains("no change feed", noFeed.Note, StringComparison.Ordinal);
        Assert.False((await _tables.GetAsync("orders", Ct))!.Value.Shadows.Single(s => s.Id == "s1").DataIsolated);
        Assert.Empty(await _store.ListKeysAsync("shadow-data/orders/", Ct));
    }

    [Fact]
    public async Task Sync_SettingsChanged_SeedsTheCopyAgain_SoUnmaskingRestoresProductionsValues()
    {
        await _store.SaveAsync("data/orders/c1", """{"email":"ann@contoso.com","total":5}"""u8.ToArray(), etag: null, Ct);
        await _tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }], Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.Syncing }] }, Ct);
        var settings = new Dictionary<string, ShadowDataOptions> { ["orders"] = new() { Mode = DataSyncMode.Differential, Mask = true } };
        var data = Create(_store, _tables, _time, _store, settings);

        await data.SyncAsync("orders", "s1", Ct);
        var masked = Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/c1", Ct))!.Value.Span);
        settings["orders"] = new() { Mode = DataSyncMode.Differential, Mask = false };
        var record = await data.SyncAsync("orders", "s1", Ct);

        Assert.DoesNotContain("ann@contoso.com", masked, StringComparison.Ordinal);
        Assert.Contains("seeded (1 copied", record.Note, StringComparison.Ordinal);
        Assert.Equal("""{"email":"ann@contoso.com","total":5}""", Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/c1", Ct))!.Value.Span));
    }

    [Fact]
    public async Task Sync_Masked_UsesTheDeploymentsOwnKey_MadeOnce_NotOnlyThePublicSeed()
    {
        await _store.SaveAsync("data/orders/c1", """{"email":"ann@contoso.com"}"""u8.ToArray(), etag: null, Ct);
        await _tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }], Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.Syncing }, new ShadowEndpoint { Id = "s2", Address = "http://127.0.0.1:3", State = ShadowState.Syncing }] }, Ct);
        var settings = new Dictionary<string, ShadowDataOptions> { ["orders"] = new() { Mode = DataSyncMode.Differential, Mask = true } };

        await Create(_store, _tables, _time, _store, settings).SyncAsync("orders", "s1", Ct);
        var key = (await _store.GetJsonAsync<string>(StateKeys.MaskKey, Ct))!.Value;
        await Create(_store, _tables, _time, _store, settings).SyncAsync("orders", "s2", Ct); // another host, or after a restart

        var (s1, s2) = (Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/c1", Ct))!.Value.Span), Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s2/c1", Ct))!.Value.Span));
        Assert.Equal(32, Convert.FromBase64String(key).Length);
        Assert.Equal(key, (await _store.GetJsonAsync<string>(StateKeys.MaskKey, Ct))!.Value);
        Assert.Equal(s1, s2); // one customer, one replacement, across hosts
        var computable = Encoding.UTF8.GetString(new DataMasker([], seed: 1).Mask("""{"email":"ann@contoso.com"}"""u8.ToArray()).Span);
        Assert.NotEqual(computable, s1);
    }

    [Fact]
    public async Task Sync_ACopyMaskedByTheMaskerBeforeTheCurrentOne_SeedsAgain()
    {
        // The previous masker copied a personal name's object whole: a copy it made keeps the values until seeded again.
        await _store.SaveAsync("data/orders/c1", """{"name":{"first":"Jocasta","last":"Doherty"}}"""u8.ToArray(), etag: null, Ct);
        await _tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }], Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.Syncing }] }, Ct);
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new() { Mode = DataSyncMode.Differential, Mask = true } });
        await data.SyncAsync("orders", "s1", Ct);
        var mark = (await _store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync("orders", "s1"), Ct))!.Value;
        await _store.SaveJsonAsync(StateKeys.ShadowSync("orders", "s1"), mark with { Settings = mark.Settings!.Replace($"masker={DataMasker.Version}", "masker=2", StringComparison.Ordinal) }, cancellationToken: Ct);
        await _store.SaveAsync("shadow-data/orders/s1/c1", """{"name":{"first":"Jocasta","last":"Doherty"}}"""u8.ToArray(), etag: null, Ct); // as it copied it

        var record = await data.SyncAsync("orders", "s1", Ct);

        Assert.Contains("seeded (1 copied", record.Note, StringComparison.Ordinal);
        Assert.DoesNotContain("Jocasta", Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/c1", Ct))!.Value.Span), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sync_TimeShiftNotShorterThanTheRetention_IsRefusedNamingBothSettings()
    {
        await SeedAsync();
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.TimeShifted, Shift = TimeSpan.FromDays(7) } });

        var record = await data.SyncAsync("orders", "s1", Ct);

        Assert.Equal("none", record.Mode);
        Assert.Contains("Shadowing:Sep:Data:orders:Shift (7.00:00:00) must be shorter than Shadowing:Sep:DataChangeRetention (7.00:00:00)", record.Note, StringComparison.Ordinal);
        Assert.Empty(await _store.ListKeysAsync("shadow-data/orders/", Ct));
    }

    [Fact]
    public async Task Tick_ASyntheticCopyMadeBeforeCopiesWereMarkedMasked_IsMarkedNow_NotGeneratedAgain()
    {
        await SeedOrdersAsync(_store, _tables, write: (key, value) => _store.SaveAsync(key, value, etag: null, Ct));
        await _tables.UpdateAsync("orders", t => t! with { Shadows = [.. t.Shadows.Select(s => s with { DataIsolated = true })] }, Ct); // as an earlier version left it
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Synthetic } });

        await data.SyncAllAsync(Ct);

        Assert.True((await _tables.GetAsync("orders", Ct))!.Value.Shadows.Single(s => s.Id == "s1").DataMasked); // mirrored writes stop
        Assert.Empty(await _store.ListKeysAsync("shadow-data/orders/s1/", Ct));
    }

    [Fact]
    public async Task Tick_SyncTurnedOffAfterACopyWasMade_SaysTheCopyIsNotSynced_AndItsLagGrows()
    {
        await SeedAsync();
        var settings = new Dictionary<string, ShadowDataOptions> { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } };
        var data = Create(_store, _tables, _time, _store, settings);
        await data.SyncAsync("orders", "s1", Ct); // the lifecycle's sync step

        // Mode None now: the tick skipped the service, and the record kept saying "lag 0 s" for a copy nothing synced.
        settings["orders"] = new ShadowDataOptions { Mode = DataSyncMode.None };
        _time.Advance(TimeSpan.FromMinutes(10));
        await data.SyncAllAsync(Ct);

        var record = (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "s1"), Ct))!.Value;
        Assert.Equal("differential", record.Mode);
        Assert.Contains("not synced since", record.Note, StringComparison.Ordinal);
        Assert.Equal(600, ObservedLag(data, "s1"), precision: 3);
    }

    [Fact]
    public async Task Sync_SettingsRefusedAfterACopyWasMade_TheCopyStaysFrozen_ItsLagGrows_AndRetirementDeletesIt()
    {
        await SeedAsync();
        var settings = new Dictionary<string, ShadowDataOptions> { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } };
        var data = Create(_store, _tables, _time, _store, settings);
        await data.SyncAsync("orders", "s1", Ct);

        // Switched to a time shift the log cannot replay: refused, but the copy made before is still there and isolated.
        settings["orders"] = new ShadowDataOptions { Mode = DataSyncMode.TimeShifted, Shift = TimeSpan.FromDays(7) };
        _time.Advance(TimeSpan.FromMinutes(10));
        var record = await data.SyncAsync("orders", "s1", Ct);

        Assert.Equal("differential", record.Mode); // the copy's: retirement and the orphan sweep delete it
        Assert.Contains("not synced since", record.Note, StringComparison.Ordinal);
        Assert.Contains("must be shorter than Shadowing:Sep:DataChangeRetention", record.Note, StringComparison.Ordinal);
        var mark = (await _store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync("orders", "s1"), Ct))!.Value;
        Assert.Equal(600, record.LagAt(mark, _time.GetUtcNow()).TotalSeconds, precision: 3); // was 0: the copy looked current
        Assert.Equal(600, ObservedLag(data, "s1"), precision: 3);
        Assert.True((await _tables.GetAsync("orders", Ct))!.Value.Shadows.Single(s => s.Id == "s1").DataIsolated);

        await data.DeleteAsync("orders", "s1", Ct);

        Assert.Equal("deleted", (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "s1"), Ct))!.Value.Mode);
        Assert.Empty(await _store.ListKeysAsync("shadow-data/orders/s1/", Ct));
    }

    [Fact]
    public async Task Tick_PrunesChangesOlderThanTheRetention_OnceTheCopiesCaughtUp()
    {
        await SeedAsync();
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } });
        await data.SyncAsync("orders", "s1", Ct);
        _time.Advance(TimeSpan.FromDays(8)); // past the default 7-day retention
        await _store.SaveAsync("data/orders/o3", "three"u8.ToArray(), etag: null, Ct);

        await data.SyncAllAsync(Ct);

        var page = await _store.ReadAsync("data/orders/", 0, 100, Ct);
        Assert.Equal(["data/orders/o3"], page.Changes.Select(c => c.Key)); // the two 8-day-old writes are gone
        Assert.True(page.PrunedThrough > 0);
        Assert.Equal(3, (await _store.ListKeysAsync("shadow-data/orders/s1/", Ct)).Count);
    }

    [Fact]
    public async Task Tick_AfterTheHostWasDownPastTheRetention_CatchesUpFromTheLogBeforePruningIt_NoSeedAgain()
    {
        await SeedAsync();
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } });
        await data.SyncAsync("orders", "s1", Ct);
        await _store.SaveAsync("data/orders/o3", "three"u8.ToArray(), etag: null, Ct);
        _time.Advance(TimeSpan.FromDays(8)); // the workflows host down meanwhile: o3 is older than the retention

        await data.SyncAllAsync(Ct);

        var record = (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "s1"), Ct))!.Value;
        Assert.DoesNotContain("seeded", record.Note, StringComparison.Ordinal); // one change applied, not the whole data set copied again
        Assert.Equal("three", Encoding.UTF8.GetString((await _store.GetAsync("shadow-data/orders/s1/o3", Ct))!.Value.Span));
        Assert.Empty((await _store.ReadAsync("data/orders/", 0, 100, Ct)).Changes); // pruned after
    }

    [Fact]
    public async Task Delete_RemovesTheCopy_AndRecordsTheDeletionOnce()
    {
        await SeedAsync();
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } });
        await data.SyncAsync("orders", "s1", Ct);

        Assert.Equal(2, await data.DeleteAsync("orders", "s1", Ct));
        var recorded = (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "s1"), Ct))!.Value;
        Assert.Equal(0, await data.DeleteAsync("orders", "s1", Ct)); // a rerun of the retirement

        Assert.Equal("deleted", recorded.Mode);
        Assert.Contains("2 record(s)", recorded.Note, StringComparison.Ordinal);
        Assert.Equal(recorded.Note, (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "s1"), Ct))!.Value.Note);
        Assert.Empty(await _store.ListKeysAsync("shadow-data/orders/s1/", Ct));
        Assert.Equal(2, (await _store.ListKeysAsync("data/orders/", Ct)).Count);
        Assert.Equal("deleted", (await data.SyncAsync("orders", "s1", Ct)).Mode); // a sync after the retirement (a late tick) makes no copy again
        Assert.Empty(await _store.ListKeysAsync("shadow-data/orders/s1/", Ct));
    }

    [Fact]
    public async Task Lag_Exported_KeepsGrowingBetweenRuns()
    {
        await _store.SaveAsync("data/orders/o1", "one"u8.ToArray(), etag: null, Ct);
        await _tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }], Shadows = [new ShadowEndpoint { Id = "lag-s9", Address = "http://127.0.0.1:2", State = ShadowState.Syncing }] }, Ct);
        var data = Create(_store, _tables, _time, _store, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.TimeShifted, Shift = TimeSpan.FromHours(1) } });
        _time.Advance(TimeSpan.FromMinutes(10));
        await data.SyncAsync("orders", "lag-s9", Ct); // the change is 10 minutes old: not applied yet

        var atSync = ObservedLag(data, "lag-s9");
        _time.Advance(TimeSpan.FromMinutes(20)); // no run meanwhile
        var later = ObservedLag(data, "lag-s9");

        Assert.Equal(600, atSync, precision: 3);
        Assert.Equal(1800, later, precision: 3);
    }

    [Fact]
    public async Task Lag_WhileTheSyncFails_GrowsFromItsLastSuccess()
    {
        await SeedAsync();
        var feed = Substitute.For<IChangeFeed>();
        feed.ReadAsync(default!, default, default, default).ReturnsForAnyArgs(call => _store.ReadAsync(call.ArgAt<string>(0), call.ArgAt<long>(1), call.ArgAt<int>(2), call.ArgAt<CancellationToken>(3)));
        feed.ListAsync(default!, default).ReturnsForAnyArgs(call => _store.ListAsync(call.ArgAt<string>(0), call.ArgAt<CancellationToken>(1)));
        var data = Create(_store, _tables, _time, feed, new() { ["orders"] = new ShadowDataOptions { Mode = DataSyncMode.Differential } });
        await data.SyncAsync("orders", "s1", Ct);
        var synced = ObservedLag(data, "s1");

        feed.ReadAsync(default!, default, default, default).ReturnsForAnyArgs<ChangePage>(_ => throw new StateStoreException("the store is down"));
        _time.Advance(TimeSpan.FromMinutes(10));
        await data.SyncAllAsync(Ct); // fails, logged
        _time.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(0, synced);
        Assert.Equal(900, ObservedLag(data, "s1"), precision: 3);

        // The status API's view: the record says since when and why, and the lag counts from the last success.
        var record = (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord("orders", "s1"), Ct))!.Value;
        var mark = (await _store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync("orders", "s1"), Ct))!.Value;
        Assert.Equal(_time.GetUtcNow().AddMinutes(-5), record.FailingSince);
        Assert.Contains("the store is down", record.Note, StringComparison.Ordinal);
        Assert.Equal(900, record.LagAt(mark, _time.GetUtcNow()).TotalSeconds, precision: 3);
        Assert.Equal(TimeSpan.Zero, mark.LagAt(_time.GetUtcNow())); // the watermark alone says nothing is missing
    }

    /// <summary>
    /// The lag <paramref name="data"/> exports for <paramref name="shadow"/>: only its own meter's (their scope is the
    /// factory), as services created by other tests in parallel export the same names.
    /// </summary>
    private static double ObservedLag(ShadowDataService data, string shadow)
    {
        double? lag = null;
        var factory = Factories.TryGetValue(data, out var own) ? own : throw new InvalidOperationException("not created by Create");
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == ShadowDataService.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "shadow" && (string?)tag.Value == shadow)
                {
                    lag = value;
                }
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return lag ?? throw new InvalidOperationException($"no lag observed for shadow {shadow}");
    }

    /// <summary>Four orders written with <paramref name="write"/>, and a table with shadow s1 syncing.</summary>
    private async Task SeedOrdersAsync(IStateStore production, RoutingTableStore tables, Func<string, byte[], Task> write)
    {
        for (var i = 1; i <= 4; i++)
        {
            await write($"data/orders/o{i}", Encoding.UTF8.GetBytes($$"""{"id":"o{{i}}","total":{{i * 10}},"email":"c{{i}}@contoso.com"}"""));
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        await tables.PutAsync(
            new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.Syncing }],
            },
            Ct);
        Assert.NotNull(await production.GetAsync("data/orders/o1", Ct));
    }

    private async Task SeedAsync()
    {
        await _store.SaveAsync("data/orders/o1", "one"u8.ToArray(), etag: null, Ct);
        await _store.SaveAsync("data/orders/o2", "two"u8.ToArray(), etag: null, Ct);
        await _tables.PutAsync(
            new RoutingTable
            {
                Service = "orders",
                Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 }],
                Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.Syncing }],
            },
            Ct);
    }
}
