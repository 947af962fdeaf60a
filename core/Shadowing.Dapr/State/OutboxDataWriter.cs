using Dapr;
using Dapr.Client;
using Shadowing.Core.Data;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Dapr.State;

/// <summary>
/// Writes a service's production data (<c>data/{service}/…</c>) through a Dapr state store component that has the
/// transactional outbox on (<c>outboxPublishPubsub</c>, <c>outboxPublishTopic: data-changes.{service}</c>; a second
/// component over the same store, so the adapter's own index keys are not published too). Each write is one transaction
/// whose outbox message is a <see cref="DataChangeMessage"/> (an <c>outbox.projection</c> upsert of the same key, not
/// stored); a delete also upserts a tombstone at <c>data-tombstones/{key}</c>, because the outbox publishes upserts only,
/// and the tombstone's projection is the delete message. Writing the key again removes its tombstone, and one not written
/// again expires after <see cref="TombstoneTtl"/> (<c>ttlInSeconds</c>, which Redis and PostgreSQL honour in a
/// transaction), so keys with churn (sessions, carts) do not leave a record each in production's store for good.
/// </summary>
public sealed class OutboxDataWriter(DaprClient dapr, TimeProvider time, string storeName)
{
    /// <summary>Where tombstones of deleted keys are kept.</summary>
    public const string TombstonePrefix = "data-tombstones/";

    /// <summary>
    /// How long a tombstone is kept. Nothing reads it: daprd publishes the delete message from its internal topic once
    /// it finds the transaction committed (seconds), not from the stored tombstone; a day leaves the time of a delete for
    /// someone looking into one, while the store holds at most a day of deletes.
    /// </summary>
    public static readonly TimeSpan TombstoneTtl = TimeSpan.FromDays(1);

    private static readonly IReadOnlyDictionary<string, string> TombstoneExpiry = new Dictionary<string, string>
    {
        ["ttlInSeconds"] = ((long)TombstoneTtl.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static readonly IReadOnlyDictionary<string, string> Projection = new Dictionary<string, string> { ["outbox.projection"] = "true", ["contentType"] = "application/json" };

    /// <summary>Creates or overwrites <paramref name="key"/>, publishing the change.</summary>
    public Task UpsertAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        Validate(key);
        var message = ShadowingJson.Serialize(new DataChangeMessage(key, DataChangeKind.Upsert, time.GetUtcNow(), value.ToArray()));
        return TransactAsync(
            [
                new StateTransactionRequest(key, value.ToArray(), StateOperationType.Upsert),
                new StateTransactionRequest(key, message.ToArray(), StateOperationType.Upsert, metadata: Projection),
                new StateTransactionRequest(TombstonePrefix + key, null, StateOperationType.Delete),
            ],
            key,
            cancellationToken);
    }

    /// <summary>Deletes <paramref name="key"/>, publishing a tombstone.</summary>
    public Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        Validate(key);
        var now = time.GetUtcNow();
        var message = ShadowingJson.Serialize(new DataChangeMessage(key, DataChangeKind.Delete, now));
        return TransactAsync(
            [
                new StateTransactionRequest(key, null, StateOperationType.Delete),
                new StateTransactionRequest(TombstonePrefix + key, ShadowingJson.Serialize(new { DeletedAt = now }).ToArray(), StateOperationType.Upsert, metadata: TombstoneExpiry),
                new StateTransactionRequest(TombstonePrefix + key, message.ToArray(), StateOperationType.Upsert, metadata: Projection),
            ],
            key,
            cancellationToken);
    }

    private static void Validate(string key)
    {
        StateKeys.Validate(key);
        if (!key.StartsWith(StateKeys.DataPrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{key}' is not production data: keys written with the outbox start with '{StateKeys.DataPrefix}'.", nameof(key));
        }
    }

    private async Task TransactAsync(IReadOnlyList<StateTransactionRequest> operations, string key, CancellationToken cancellationToken)
    {
        try
        {
            await dapr.ExecuteStateTransactionAsync(storeName, operations, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DaprException or Grpc.Core.RpcException)
        {
            throw new StateStoreException($"Dapr state store '{storeName}' (with the outbox) failed writing '{key}': {ex.Message}", ex);
        }
    }
}
