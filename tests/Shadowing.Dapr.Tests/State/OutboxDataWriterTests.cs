using System.Text;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Data;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;
using Shadowing.Dapr.State;
using Shadowing.TestUtilities.Dapr;

namespace Shadowing.Dapr.Tests.State;

/// <summary>The outbox path over the wire against the fake sidecar as daprd with the outbox on a Redis state store.</summary>
public sealed class OutboxDataWriterTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private FakeDaprSidecar _sidecar = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _sidecar = await FakeDaprSidecar.StartAsync(FakeStoreMode.Redis);
        _sidecar.State.Outboxes["data-orders"] = ("pubsub", "data-changes.orders");
    }

    public async ValueTask DisposeAsync() => await _sidecar.DisposeAsync();

    [Fact]
    public async Task Writes_PublishUpsertsAndATombstoneForTheDelete_InOrder_AndStoreOnlyTheData()
    {
        var writer = new OutboxDataWriter(_sidecar.CreateClient(), _time, "data-orders");

        await writer.UpsertAsync("data/orders/o1", "one"u8.ToArray(), Ct);
        _time.Advance(TimeSpan.FromSeconds(1));
        await writer.UpsertAsync("data/orders/o2", "two"u8.ToArray(), Ct);
        await writer.DeleteAsync("data/orders/o1", Ct);
        await writer.UpsertAsync("data/orders/o1", "again"u8.ToArray(), Ct);

        var messages = _sidecar.State.PubSub.Published.Where(p => p.Topic == "data-changes.orders").Select(p => ShadowingJson.Deserialize<DataChangeMessage>(p.Data)).ToList();
        Assert.Equal(
            [("data/orders/o1", DataChangeKind.Upsert, "one"), ("data/orders/o2", DataChangeKind.Upsert, "two"), ("data/orders/o1", DataChangeKind.Delete, null), ("data/orders/o1", DataChangeKind.Upsert, "again")],
            messages.Select(m => (m.Key, m.Kind, m.Value is null ? null : Encoding.UTF8.GetString(m.Value))));
        Assert.Equal(_time.GetUtcNow(), messages[^1].At);
        Assert.Equal("again", Encoding.UTF8.GetString(_sidecar.State.StoreOf("data-orders").Get("data/orders/o1")!.Value.Value)); // the data, not the projection
        Assert.Null(_sidecar.State.StoreOf("data-orders").Get("data-tombstones/data/orders/o1")); // written again: its tombstone is gone
        await writer.DeleteAsync("data/orders/o2", Ct);
        Assert.NotNull(_sidecar.State.StoreOf("data-orders").Get("data-tombstones/data/orders/o2"));
        Assert.Null(_sidecar.State.StoreOf("data-orders").Get("data/orders/o2"));
    }

    [Theory]
    [InlineData(FakeStoreMode.Redis, true)]
    [InlineData(FakeStoreMode.PostgreSql, false)]
    public async Task OutboxTransactionWithAFailingOperation_OnRedisStillPublishes_OnPostgreSqlNot(FakeStoreMode mode, bool published)
    {
        // A writer's ETag-guarded upsert that lost a race, in an outbox transaction. daprd publishes once the transaction's
        // marker key is written: Redis's pipeline writes it despite the failed upsert, PostgreSQL rolls it back.
        await using var sidecar = await FakeDaprSidecar.StartAsync(mode);
        sidecar.State.Outboxes["data-orders"] = ("pubsub", "data-changes.orders");
        using var client = sidecar.CreateClient();
        await client.SaveStateAsync("data-orders", "data/orders/o1", "first", cancellationToken: Ct);
        var stale = mode == FakeStoreMode.Redis ? "99" : Guid.NewGuid().ToString();
        var projection = new Dictionary<string, string> { ["outbox.projection"] = "true", ["contentType"] = "application/json" };

        await Assert.ThrowsAsync<global::Dapr.DaprException>(() => client.ExecuteStateTransactionAsync(
            "data-orders",
            [
                new global::Dapr.Client.StateTransactionRequest("data/orders/o1", "\"lost\""u8.ToArray(), global::Dapr.Client.StateOperationType.Upsert, etag: stale),
                new global::Dapr.Client.StateTransactionRequest("data/orders/o1", "{\"key\":\"data/orders/o1\"}"u8.ToArray(), global::Dapr.Client.StateOperationType.Upsert, metadata: projection),
            ],
            cancellationToken: Ct));

        Assert.Equal(published, sidecar.State.PubSub.Published.Any(p => p.Topic == "data-changes.orders"));
    }

    [Theory]
    [InlineData(FakeStoreMode.Redis)]
    [InlineData(FakeStoreMode.PostgreSql)]
    public async Task Tombstone_OfAKeyNotWrittenAgain_ExpiresAfterItsTtl_AndTheDeleteIsStillPublished(FakeStoreMode mode)
    {
        // Keys with churn (sessions, carts) used to leave a tombstone each in production's store for good.
        await using var sidecar = await FakeDaprSidecar.StartAsync(mode);
        sidecar.State.Outboxes["data-orders"] = ("pubsub", "data-changes.orders");
        sidecar.State.StoreOf("data-orders").Time = _time;
        var writer = new OutboxDataWriter(sidecar.CreateClient(), _time, "data-orders");
        await writer.UpsertAsync("data/orders/o1", "one"u8.ToArray(), Ct);

        await writer.DeleteAsync("data/orders/o1", Ct);
        _time.Advance(OutboxDataWriter.TombstoneTtl - TimeSpan.FromSeconds(1));
        Assert.NotNull(sidecar.State.StoreOf("data-orders").Get("data-tombstones/data/orders/o1"));
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Null(sidecar.State.StoreOf("data-orders").Get("data-tombstones/data/orders/o1"));
        Assert.Empty(sidecar.State.StoreOf("data-orders").Keys);
        Assert.Equal(
            [DataChangeKind.Upsert, DataChangeKind.Delete],
            sidecar.State.PubSub.Published.Where(p => p.Topic == "data-changes.orders").Select(p => ShadowingJson.Deserialize<DataChangeMessage>(p.Data).Kind));
    }

    [Fact]
    public async Task Write_OutsideProductionData_IsRefusedNamingThePrefix()
    {
        var writer = new OutboxDataWriter(_sidecar.CreateClient(), _time, "data-orders");

        var error = await Assert.ThrowsAsync<ArgumentException>(() => writer.UpsertAsync("routing/orders", "x"u8.ToArray(), Ct));

        Assert.Contains("'data/'", error.Message, StringComparison.Ordinal);
    }
}
