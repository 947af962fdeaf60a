using System.Text;
using CsCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Data;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Dapr.Messaging;
using Shadowing.Dapr.State;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Dapr.Tests.State;

/// <summary>
/// The Dapr change feed over the wire: production writes go through the fake sidecar's outbox (as daprd with the outbox on a
/// Redis state store), the sidecar delivers <c>data-changes.orders</c> to an app subscribed as the workflows host is, and
/// the feed it appends to is what data sync reads.
/// </summary>
public sealed class OutboxChangeFeedTests : IAsyncLifetime
{
    private const string Prefix = "data/orders/";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private FakeDaprSidecar _sidecar = null!;
    private DaprStateStore _store = null!;
    private IStateStore _production = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _sidecar = await FakeDaprSidecar.StartAsync(FakeStoreMode.Redis);
        _sidecar.State.Outboxes["data-orders"] = ("pubsub", Topics.DataChanges("orders"));
        _store = new DaprStateStore(_sidecar.CreateClient(), _time);
        _production = new DaprProductionData(_sidecar.CreateClient(), _time).Of("orders");
    }

    public async ValueTask DisposeAsync() => await _sidecar.DisposeAsync();

    [Fact]
    public async Task OutboxWrites_DeliveredToTheSubscribedApp_SyncAShadowToProductionsData()
    {
        await using var app = await LoopbackApp.StartAsync(
            b =>
            {
                b.Services.AddSingleton<TimeProvider>(_time);
                b.Services.AddSingleton(_sidecar.CreateClient());
                b.Services.AddShadowingDapr().AddShadowingOutboxChangeFeed(["orders"]);
            },
            a =>
            {
                a.MapShadowingEvents();
                var feed = a.Services.GetRequiredService<OutboxChangeFeed>();
                a.MapDaprSubscriptions(DaprAppIds.Workflows, () => feed.Services.Select(DaprSubscriptions.DataChanges));
            });
        var loaded = await _sidecar.State.PubSub.LoadFromAppAsync(LoopbackApp.AddressOf(app), Ct);
        var subscription = Assert.Single(loaded, s => s.Topic == "data-changes.orders");
        Assert.Equal(("pubsub", DaprSubscriptions.DeadLetterTopic), (subscription.PubSubName, subscription.DeadLetterTopic));

        var writer = new OutboxDataWriter(_sidecar.CreateClient(), _time, "data-orders");
        for (var i = 0; i < 20; i++)
        {
            await writer.UpsertAsync($"{Prefix}o{i:D2}", Encoding.UTF8.GetBytes($"{{\"n\":{i}}}"), Ct);
            _time.Advance(TimeSpan.FromMilliseconds(10));
        }

        await writer.DeleteAsync(Prefix + "o03", Ct);
        _time.Advance(TimeSpan.FromMilliseconds(10));
        await writer.UpsertAsync(Prefix + "o05", "{\"n\":55}"u8.ToArray(), Ct);
        var feedOf = app.Services.GetRequiredService<IChangeFeed>();
        await Eventually.WaitUntilAsync(() => _sidecar.State.PubSub.Attempts.Count(a => a.Topic == "data-changes.orders") >= 22, "every change is delivered", cancellationToken: Ct);
        Assert.All(_sidecar.State.PubSub.Attempts, a => Assert.Equal(DeliveryOutcome.Success, a.Outcome)); // deliveries run in parallel: appenders race on the head and retry

        // The log is read by sequence only: no index document naming every retained change (it grew with each one).
        Assert.Contains(_sidecar.State.Keys, k => k.StartsWith("data-feed/orders/log/", StringComparison.Ordinal));
        Assert.DoesNotContain(_sidecar.State.Keys, k => k.StartsWith("$index/data-feed/orders/log", StringComparison.Ordinal));

        // Production's own keys hold the data (the projections and tombstones are the outbox's business), in its own
        // component: none of it is in statestore, which its apps cannot reach either.
        Assert.DoesNotContain(_sidecar.State.Keys, k => k.StartsWith(Prefix, StringComparison.Ordinal));
        var sync = new DataSync(feedOf, _production, _store, _time);
        var progress = await sync.RunAsync("orders", "s1", TimeSpan.Zero, Ct);

        Assert.True(progress.Seeded);
        Assert.Equal(19, progress.Copied);
        Assert.Equal(await ProductionAsync(), await CopyAsync("s1"));

        // Continuous: later changes arrive through the same path and are applied from the watermark.
        await writer.DeleteAsync(Prefix + "o00", Ct);
        await writer.UpsertAsync(Prefix + "o20", "{\"n\":20}"u8.ToArray(), Ct);
        await Eventually.WaitUntilAsync(() => _sidecar.State.PubSub.Attempts.Count(a => a.Topic == "data-changes.orders") >= 24, "the later changes are delivered", cancellationToken: Ct);
        progress = await sync.RunAsync("orders", "s1", TimeSpan.Zero, Ct);
        Assert.False(progress.Seeded);
        Assert.Equal(2, progress.Applied);
        Assert.Equal(await ProductionAsync(), await CopyAsync("s1"));
    }

    [Fact]
    public async Task Append_ARedeliveryOrAChangeOlderThanTheKeysLast_IsSkipped_SoTheLogHoldsEachChangeOnce()
    {
        var feed = new OutboxChangeFeed(_store, ["orders"]);
        var first = Upsert("o1", "one", 1);
        var newer = Upsert("o1", "two", 2);

        Assert.True(await feed.AppendAsync("orders", first, Ct));
        Assert.False(await feed.AppendAsync("orders", first, Ct)); // redelivered
        Assert.True(await feed.AppendAsync("orders", newer, Ct));
        Assert.False(await feed.AppendAsync("orders", first, Ct)); // redelivered late, after the newer change: must not undo it
        Assert.True(await feed.AppendAsync("orders", Delete("o1", 3), Ct));
        Assert.False(await feed.AppendAsync("orders", newer, Ct)); // late again: the key stays deleted
        Assert.True(await feed.AppendAsync("orders", Upsert("o2", "x", 1), Ct)); // another key: its own order

        var page = await feed.ReadAsync(Prefix, 0, 100, Ct);
        Assert.Equal(
            [(1L, "data/orders/o1", DataChangeKind.Upsert, "one"), (2, "data/orders/o1", DataChangeKind.Upsert, "two"), (3, "data/orders/o1", DataChangeKind.Delete, ""), (4, "data/orders/o2", DataChangeKind.Upsert, "x")],
            page.Changes.Select(c => (c.Sequence, c.Key, c.Kind, Encoding.UTF8.GetString(c.Value.Span))));
        Assert.Equal(0, page.PrunedThrough);
        Assert.Equal([3L], (await feed.ReadAsync(Prefix, 2, 1, Ct)).Changes.Select(c => c.Sequence)); // a page of one
        var listing = await feed.ListAsync(Prefix, Ct);
        Assert.Equal(4, listing.AsOf);
        var entry = Assert.Single(listing.Entries); // o1 is deleted
        Assert.Equal(new DataDigest("data/orders/o2", 4, DataHash.Of("x"u8)), entry);
    }

    [Fact]
    public async Task Append_OlderChangeWhoseLostRaceOverwroteTheKeysRecord_IsStillSkipped_AndTheRecordRepaired()
    {
        var feed = new OutboxChangeFeed(_store, ["orders"]);
        Assert.True(await feed.AppendAsync("orders", Upsert("o1", "newer", 2), Ct));
        // An appender of an older change prepared over the record while the newer one committed, then lost the head race.
        await _store.SaveJsonAsync("data-feed/orders/keys/o1", new { Version = 1, At = At(1), Kind = "Upsert", Hash = DataHash.Of("older"u8) }, cancellationToken: Ct);

        Assert.False(await feed.AppendAsync("orders", Upsert("o1", "older", 1), Ct)); // its retry: older than what was committed

        Assert.Equal(["newer"], (await feed.ReadAsync(Prefix, 0, 10, Ct)).Changes.Select(c => Encoding.UTF8.GetString(c.Value.Span)));
        Assert.Equal(DataHash.Of("newer"u8), Assert.Single((await feed.ListAsync(Prefix, Ct)).Entries).Hash);
    }

    [Fact]
    public async Task Append_OfAnotherServicesKey_IsRefusedNamingTheTopic()
    {
        var feed = new OutboxChangeFeed(_store, ["orders"]);

        var error = await Assert.ThrowsAsync<Core.Messaging.UnprocessableMessageException>(() => feed.AppendAsync("orders", new DataChangeMessage("data/billing/b1", DataChangeKind.Upsert, _time.GetUtcNow(), [1]), Ct));

        Assert.Contains("data-changes.orders", error.Message, StringComparison.Ordinal);
        Assert.Contains("data/billing/b1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_KilledAfterCommittingBeforeItsLogEntry_TheChangeIsStillReadAndNotAppendedTwice()
    {
        var dying = new DyingWrites(_store) { Kill = key => key.Contains("/log/", StringComparison.Ordinal) };
        var feed = new OutboxChangeFeed(dying, ["orders"]);

        await Assert.ThrowsAsync<StateStoreException>(() => feed.AppendAsync("orders", Upsert("o1", "one", 1), Ct));
        dying.Kill = null;

        Assert.Equal(["one"], (await feed.ReadAsync(Prefix, 0, 10, Ct)).Changes.Select(c => Encoding.UTF8.GetString(c.Value.Span)));
        Assert.False(await feed.AppendAsync("orders", Upsert("o1", "one", 1), Ct)); // Dapr redelivers: already committed
        Assert.True(await feed.AppendAsync("orders", Upsert("o2", "two", 2), Ct));
        Assert.NotNull(await _store.GetAsync("data-feed/orders/log/0000000000000000001", Ct)); // settled by the next append
        Assert.Equal([1L, 2L], (await feed.ReadAsync(Prefix, 0, 10, Ct)).Changes.Select(c => c.Sequence));
    }

    [Fact]
    public async Task Append_KilledBeforeCommitting_IsNotMistakenForARedelivery()
    {
        var dying = new DyingWrites(_store) { Kill = key => key.EndsWith("/head", StringComparison.Ordinal) };
        var feed = new OutboxChangeFeed(dying, ["orders"]);

        await Assert.ThrowsAsync<StateStoreException>(() => feed.AppendAsync("orders", Upsert("o1", "one", 1), Ct)); // its key record was written
        dying.Kill = null;

        Assert.Empty((await feed.ReadAsync(Prefix, 0, 10, Ct)).Changes);
        Assert.True(await feed.AppendAsync("orders", Upsert("o1", "one", 1), Ct)); // the redelivery is appended, not lost
        Assert.Equal(["one"], (await feed.ReadAsync(Prefix, 0, 10, Ct)).Changes.Select(c => Encoding.UTF8.GetString(c.Value.Span)));
    }

    [Fact]
    public async Task Prune_DropsOldEntries_KeepsDeletedKeysRecords_AndAReaderBehindIsToldToSeedAgain()
    {
        var feed = new OutboxChangeFeed(_store, ["orders"]);
        await feed.AppendAsync("orders", Upsert("o1", "one", 1), Ct);
        await feed.AppendAsync("orders", Delete("o1", 2), Ct);
        await feed.AppendAsync("orders", Upsert("o2", "two", 3), Ct);
        await feed.AppendAsync("orders", Upsert("o3", "three", 10), Ct);

        Assert.Equal(3, await feed.PruneAsync(At(5), Ct));
        Assert.Equal(0, await feed.PruneAsync(At(5), Ct));

        var behind = await feed.ReadAsync(Prefix, 1, 10, Ct);
        Assert.Empty(behind.Changes);
        Assert.Equal(3, behind.PrunedThrough);
        Assert.Equal([4L], (await feed.ReadAsync(Prefix, 3, 10, Ct)).Changes.Select(c => c.Sequence));
        Assert.Equal(["data/orders/o2", "data/orders/o3"], (await feed.ListAsync(Prefix, Ct)).Entries.Select(e => e.Key));
        Assert.False(await feed.AppendAsync("orders", Upsert("o1", "one", 1), Ct)); // a late upsert older than the pruned delete: the key's record still knows

        // The newest entry always stays (the head carries it).
        Assert.Equal(0, await feed.PruneAsync(At(100), Ct));
    }

    /// <summary>
    /// Any order of delivery (pub/sub redelivers and does not keep order across retries), every message delivered once or
    /// more, appends killed at random writes and delivered again: replaying the log gives production's final state, and
    /// the listing names exactly production's keys with their hashes.
    /// </summary>
    [Fact]
    public Task Append_AnyDeliveryOrderDuplicatesAndKills_ReplaysToProductionsState() =>
        Gen.Select(Gen.Select(Gen.Int[0, 3], Gen.Int[0, 4]).Array[1, 16], Gen.Int[0, 3].Array[16], Gen.Int[0, 20].Array[16], Gen.Int[0, 1000].Array[64])
            .SampleAsync(
                async (writes, repeats, kills, shuffle) =>
                {
                    await using var sidecar = await FakeDaprSidecar.StartAsync(FakeStoreMode.Redis);
                    var store = new DaprStateStore(sidecar.CreateClient(), _time);
                    var dying = new DyingWrites(store);
                    var feed = new OutboxChangeFeed(dying, ["orders"]);
                    var production = new Dictionary<string, string>(StringComparer.Ordinal);
                    var messages = new List<DataChangeMessage>();
                    for (var i = 0; i < writes.Length; i++)
                    {
                        var (key, value) = ($"{Prefix}k{writes[i].Item1}", writes[i].Item2);
                        if (value == 0)
                        {
                            production.Remove(key);
                            messages.Add(new DataChangeMessage(key, DataChangeKind.Delete, At(i)));
                        }
                        else
                        {
                            production[key] = $"v{i}";
                            messages.Add(new DataChangeMessage(key, DataChangeKind.Upsert, At(i), Encoding.UTF8.GetBytes($"v{i}")));
                        }
                    }

                    var deliveries = messages.SelectMany((m, i) => Enumerable.Repeat(m, 1 + repeats[i])).ToList();
                    deliveries = [.. deliveries.Select((d, i) => (d, shuffle[i % shuffle.Length] * 100 + i)).OrderBy(d => d.Item2).Select(d => d.d)];
                    for (var i = 0; i < deliveries.Count; i++)
                    {
                        var writesBefore = dying.Writes;
                        var killAt = kills[i % kills.Length];
                        dying.Kill = killAt == 0 ? null : _ => dying.Writes - writesBefore == killAt;
                        try
                        {
                            await feed.AppendAsync("orders", deliveries[i], Ct);
                        }
                        catch (StateStoreException)
                        {
                            dying.Kill = null;
                            await feed.AppendAsync("orders", deliveries[i], Ct); // not acknowledged: Dapr delivers it again
                        }

                        dying.Kill = null;
                    }

                    var replayed = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var change in (await feed.ReadAsync(Prefix, 0, 10_000, Ct)).Changes)
                    {
                        if (change.Kind == DataChangeKind.Upsert)
                        {
                            replayed[change.Key] = Encoding.UTF8.GetString(change.Value.Span);
                        }
                        else
                        {
                            replayed.Remove(change.Key);
                        }
                    }

                    Assert.Equal(production.OrderBy(p => p.Key), replayed.OrderBy(p => p.Key));
                    Assert.Equal(
                        production.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, DataHash.Of(Encoding.UTF8.GetBytes(p.Value)))),
                        (await feed.ListAsync(Prefix, Ct)).Entries.Select(e => (e.Key, e.Hash)));
                },
                iter: 40);

    private DateTimeOffset At(int seconds) => new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero).AddSeconds(seconds);

    private DataChangeMessage Upsert(string key, string value, int at) => new(Prefix + key, DataChangeKind.Upsert, At(at), Encoding.UTF8.GetBytes(value));

    private DataChangeMessage Delete(string key, int at) => new(Prefix + key, DataChangeKind.Delete, At(at));

    private async Task<Dictionary<string, string>> ProductionAsync()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in _sidecar.State.StoreOf(DaprComponents.DataStore("orders")).Keys.Where(k => k.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            result[key[Prefix.Length..]] = Encoding.UTF8.GetString((await _production.GetAsync(key, Ct))!.Value.Span);
        }

        return result;
    }

    private async Task<Dictionary<string, string>> CopyAsync(string shadowId)
    {
        var target = StateKeys.ShadowData("orders", shadowId);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in await _store.ListKeysAsync(target, Ct))
        {
            result[key[target.Length..]] = Encoding.UTF8.GetString((await _store.GetAsync(key, Ct))!.Value.Span);
        }

        return result;
    }

    /// <summary>A store whose writes fail while <see cref="Kill"/> says so, before anything is written: a process killed mid-append.</summary>
    private sealed class DyingWrites(IStateStore inner) : DelegatingStateStore(inner)
    {
        public Func<string, bool>? Kill { get; set; }

        public int Writes { get; private set; }

        public override Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default) =>
            Dies(key) ? throw new StateStoreException("killed") : base.SaveAsync(key, value, etag, cancellationToken);

        public override Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
            Dies(key) ? throw new StateStoreException("killed") : base.TryCreateAsync(key, value, cancellationToken);

        private bool Dies(string key)
        {
            Writes++;
            return Kill?.Invoke(key) == true;
        }
    }
}
