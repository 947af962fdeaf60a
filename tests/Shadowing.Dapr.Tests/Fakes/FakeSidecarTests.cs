using System.Net;
using Shadowing.TestUtilities.Dapr;

namespace Shadowing.Dapr.Tests.Fakes;

/// <summary>The fake sidecar reproduces daprd and its components: checked here against what their source does.</summary>
public sealed class FakeSidecarTests
{
    [Theory]
    [InlineData(HttpStatusCode.OK, "", DeliveryOutcome.Success)]
    [InlineData(HttpStatusCode.OK, "not json", DeliveryOutcome.Success)]
    [InlineData(HttpStatusCode.OK, "{\"status\":\"SUCCESS\"}", DeliveryOutcome.Success)]
    [InlineData(HttpStatusCode.NoContent, "", DeliveryOutcome.Success)]
    [InlineData(HttpStatusCode.OK, "{\"status\":\"RETRY\"}", DeliveryOutcome.Retry)]
    [InlineData(HttpStatusCode.OK, "{\"status\":\"success\"}", DeliveryOutcome.Retry)]
    [InlineData(HttpStatusCode.OK, "{\"status\":\"LATER\"}", DeliveryOutcome.Retry)]
    [InlineData(HttpStatusCode.InternalServerError, "{\"status\":\"SUCCESS\"}", DeliveryOutcome.Retry)]
    [InlineData(HttpStatusCode.BadRequest, "", DeliveryOutcome.Retry)]
    [InlineData(HttpStatusCode.OK, "{\"status\":\"DROP\"}", DeliveryOutcome.Drop)]
    [InlineData(HttpStatusCode.NotFound, "", DeliveryOutcome.Drop)]
    public void Classify_AppAnswers_AsDaprdsPostmanReadsThem(HttpStatusCode status, string body, DeliveryOutcome expected) =>
        Assert.Equal(expected, FakePubSub.Classify(status, body));

    [Fact]
    public async Task ComponentsNotLoaded_RefusedAsDaprdRefusesThem_TheRepositorysAreLoaded()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var client = sidecar.CreateClient();
        var ct = TestContext.Current.CancellationToken;

        // daprd loads what components/ declares (dapr run --resources-path components); any other name is the app's error.
        Assert.Equal(["data-orders", "statestore"], sidecar.State.StateStores.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["outbox-pubsub", "pubsub", "queue-pubsub"], sidecar.State.PubSubs.Keys.Order(StringComparer.Ordinal));
        var store = await Assert.ThrowsAsync<global::Dapr.DaprException>(() => client.SaveStateAsync("orders-store", "k", "v", cancellationToken: ct));
        var bus = await Assert.ThrowsAsync<global::Dapr.DaprException>(() => client.PublishEventAsync("events", "alerts", new { }, ct));

        Assert.Equal((Grpc.Core.StatusCode.InvalidArgument, "state store orders-store is not found"), Status(store));
        Assert.Equal((Grpc.Core.StatusCode.InvalidArgument, "pubsub events not found"), Status(bus));
        await client.SaveStateAsync(DaprComponents.StateStore, "k", "v", cancellationToken: ct);
        await client.PublishEventAsync(DaprComponents.QueuePubSub, "alerts", new { }, ct);
    }

    private static (Grpc.Core.StatusCode Code, string Message) Status(Exception error) =>
        error.InnerException is Grpc.Core.RpcException rpc ? (rpc.StatusCode, rpc.Status.Detail) : throw new InvalidOperationException("not a gRPC error", error);

    [Fact]
    public async Task Publish_OnAnotherComponentsTopicOfTheSameName_ReachesNoSubscription()
    {
        await using var pubSub = new FakePubSub(appApiToken: null) { MaxDeliveryAttempts = 1 };
        using var nowhere = new Shadowing.TestUtilities.Network.RefusingPort();
        var route = new Uri(nowhere.Address, "/events/alerts");
        pubSub.Subscribe("alerts", route, pubSubName: "queue-pubsub");

        for (var i = 0; i < 3; i++)
        {
            pubSub.Publish(new PublishedEvent("pubsub", "alerts", "{}"u8.ToArray(), "application/json"));
        }

        pubSub.Publish(new PublishedEvent("queue-pubsub", "alerts", "{}"u8.ToArray(), "application/json"));

        // Deliveries start in publish order: had the first three been delivered, they would be tried by now too.
        await Shadowing.TestUtilities.Time.Eventually.WaitUntilAsync(() => pubSub.Lost.Any(e => e.PubSubName == "queue-pubsub"), "the delivery on the subscribed component tried", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("queue-pubsub", Assert.Single(pubSub.Lost).PubSubName);
        Assert.Single(pubSub.Attempts);
    }

    [Fact]
    public void Redis_Set_ETagOnMissingKeyAccepted_AndVersionsRestartAfterDelete()
    {
        var redis = FakeStateComponent.Create(FakeStoreMode.Redis);

        redis.Set("k", [1], "7", FakeConcurrency.Unspecified);
        Assert.Equal("1", redis.Get("k")!.Value.ETag);
        redis.Set("k", [2], "1", FakeConcurrency.Unspecified);
        redis.Delete("k", null, FakeConcurrency.Unspecified);
        redis.Set("k", [3], null, FakeConcurrency.Unspecified);

        Assert.Equal("1", redis.Get("k")!.Value.ETag);
    }

    [Fact]
    public void Redis_FirstWriteFlag_IsStickyAndRefusesUnguardedWritesWithAPlainError()
    {
        var redis = FakeStateComponent.Create(FakeStoreMode.Redis);
        redis.Set("k", [1], null, FakeConcurrency.FirstWrite);

        var again = Assert.Throws<FakeStoreException>(() => redis.Set("k", [2], null, FakeConcurrency.FirstWrite));
        var plain = Assert.Throws<FakeStoreException>(() => redis.Set("k", [2], null, FakeConcurrency.Unspecified));
        redis.Set("k", [3], "1", FakeConcurrency.Unspecified);

        Assert.Equal(FakeStoreErrorKind.Other, again.Kind); // no ETag sent: not wrapped as an ETag error
        Assert.Equal(FakeStoreErrorKind.Other, plain.Kind);
        Assert.Equal("2", redis.Get("k")!.Value.ETag);
    }

    [Fact]
    public void Redis_FirstWrite_OnAKeyWrittenWithoutIt_IsAccepted()
    {
        var redis = FakeStateComponent.Create(FakeStoreMode.Redis);
        redis.Set("k", [1], null, FakeConcurrency.Unspecified);

        redis.Set("k", [2], null, FakeConcurrency.FirstWrite);

        Assert.Equal([2], redis.Get("k")!.Value.Value);
    }

    [Fact]
    public void Redis_Multi_NoRollback_OperationsAroundTheFailingOneApplied()
    {
        var redis = FakeStateComponent.Create(FakeStoreMode.Redis);
        redis.Set("a", [1], null, FakeConcurrency.Unspecified);
        redis.Set("b", [1], null, FakeConcurrency.Unspecified);

        var error = Assert.Throws<FakeStoreException>(() => redis.Multi([new("a", [2], "1", FakeConcurrency.Unspecified), new("b", [2], "99", FakeConcurrency.Unspecified), new("c", [2], null, FakeConcurrency.Unspecified)]));

        Assert.Equal(FakeStoreErrorKind.Other, error.Kind);
        Assert.Equal([2], redis.Get("a")!.Value.Value);
        Assert.Equal([1], redis.Get("b")!.Value.Value);
        Assert.Equal([2], redis.Get("c")!.Value.Value);
    }

    [Fact]
    public void Redis_Delete_ETagOnMissingKeySucceeds_WrongETagIsAMismatch()
    {
        var redis = FakeStateComponent.Create(FakeStoreMode.Redis);
        redis.Delete("missing", "5", FakeConcurrency.Unspecified);
        redis.Set("k", [1], null, FakeConcurrency.Unspecified);

        Assert.Equal(FakeStoreErrorKind.ETagMismatch, Assert.Throws<FakeStoreException>(() => redis.Delete("k", "9", FakeConcurrency.Unspecified)).Kind);
    }

    [Fact]
    public void PostgreSql_ETagOnMissingKey_IsAMismatch_AndMultiRollsBack()
    {
        var postgres = FakeStateComponent.Create(FakeStoreMode.PostgreSql);
        postgres.Set("a", [1], null, FakeConcurrency.Unspecified);

        Assert.Equal(FakeStoreErrorKind.ETagMismatch, Assert.Throws<FakeStoreException>(() => postgres.Set("missing", [1], Guid.NewGuid().ToString(), FakeConcurrency.Unspecified)).Kind);
        Assert.Equal(FakeStoreErrorKind.Other, Assert.Throws<FakeStoreException>(() => postgres.Set("a", [2], null, FakeConcurrency.FirstWrite)).Kind);
        Assert.Throws<FakeStoreException>(() => postgres.Multi([new("a", [2], null, FakeConcurrency.Unspecified), new("b", [2], Guid.NewGuid().ToString(), FakeConcurrency.Unspecified)]));
        Assert.Equal([1], postgres.Get("a")!.Value.Value);
        Assert.Null(postgres.Get("b"));
    }

    [Theory]
    [InlineData(FakeStoreMode.Redis, true)]
    [InlineData(FakeStoreMode.PostgreSql, false)]
    public void Ttl_ExpiresTheKey_ARewriteWithoutItKeepsTheExpiryOnRedisOnly(FakeStoreMode mode, bool stillExpires)
    {
        // Redis: EXPIRE after the script, whose HSET leaves a key's expiry alone. PostgreSQL v2: the upsert sets
        // expires_at, NULL without a TTL.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var store = FakeStateComponent.Create(mode);
        store.Time = time;
        store.Set("k", [1], null, FakeConcurrency.Unspecified, ttlSeconds: 10);
        store.Multi([new("t", [1], null, FakeConcurrency.Unspecified, TtlSeconds: 10)]);
        time.Advance(TimeSpan.FromSeconds(9));
        store.Set("k", [2], null, FakeConcurrency.Unspecified);
        Assert.Equal(["k", "t"], store.Keys);

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Null(store.Get("t"));
        Assert.Equal(stillExpires, store.Get("k") is null);
        store.Set("t", [3], null, FakeConcurrency.FirstWrite); // an expired key is missing to a create too
        Assert.Equal([3], store.Get("t")!.Value.Value);
    }

    [Fact]
    public void Redis_Multi_AFailedWriteWithATtl_StillExpiresTheKey()
    {
        // The pipeline queues EXPIRE after the script whether or not the script wrote.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var redis = FakeStateComponent.Create(FakeStoreMode.Redis);
        redis.Time = time;
        redis.Set("k", [1], null, FakeConcurrency.Unspecified);

        Assert.Throws<FakeStoreException>(() => redis.Multi([new("k", [2], "9", FakeConcurrency.Unspecified, TtlSeconds: 10)]));
        Assert.Equal([1], redis.Get("k")!.Value.Value);
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.Null(redis.Get("k"));
    }

    [Fact]
    public async Task Invoke_AppUnreachableOrUnknown_AnswersDaprdsOwnErrorAsDaprdDoes()
    {
        // pkg/api/http/directmessaging.go: messages.ErrDirectInvoke, 500, application/json, the two fields only.
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var down = new Shadowing.TestUtilities.Network.RefusingPort();
        sidecar.State.MapAppAt("down", down.Address);
        using var client = new HttpClient { BaseAddress = new Uri(sidecar.HttpEndpoint) };
        var ct = TestContext.Current.CancellationToken;

        foreach (var app in new[] { "down", "unknown" })
        {
            using var response = await client.GetAsync(new Uri($"/v1.0/invoke/{app}/method/items", UriKind.Relative), ct);
            using var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));

            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.ToString());
            Assert.NotNull(response.Content.Headers.ContentLength);
            Assert.Equal(["errorCode", "message"], body.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal("ERR_DIRECT_INVOKE", body.RootElement.GetProperty("errorCode").GetString());
            Assert.StartsWith($"failed to invoke, id: {app}, err: ", body.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }
}
