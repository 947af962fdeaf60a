using System.Security.Cryptography;
using Shadowing.Core.Messaging;
using Shadowing.Core.Serialization;
using Shadowing.Core.State;

namespace Shadowing.Core.Validation;

/// <summary>
/// Publishes the lifecycle's alerts without letting a bus outage fail the step that raised them (a verdict, a
/// retirement): an alert the bus refuses is kept in the store, <c>alerts-pending/{id}</c>, and published by
/// <see cref="FlushAsync"/> (every maintenance tick) once the bus is back. The id is the webhook's Idempotency-Key (a
/// hash of the alert), so an alert sent twice, a flush racing a publish that landed after all, is taken once.
/// </summary>
public sealed class AlertOutbox(IStateStore store, IEventBus bus)
{
    /// <summary>Where alerts waiting for the bus are kept.</summary>
    public const string PendingPrefix = "alerts-pending/";

    /// <summary>Publishes <paramref name="alert"/>, or keeps it for <see cref="FlushAsync"/>; false when kept.</summary>
    /// <exception cref="StateStoreException">Neither the bus nor the store took it.</exception>
    public async Task<bool> PublishAsync(Alert alert, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(alert);
        try
        {
            await bus.PublishAsync(Topics.Alerts, alert, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (EventBusException)
        {
            await store.SaveJsonAsync(PendingPrefix + IdOf(alert), alert, cancellationToken: cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>Publishes every kept alert, oldest first, removing each once published; returns how many were.</summary>
    /// <exception cref="EventBusException">The bus still refuses: the rest wait for the next flush.</exception>
    public async Task<int> FlushAsync(CancellationToken cancellationToken = default)
    {
        var pending = new List<StateEntry<Alert>>();
        foreach (var key in await store.ListKeysAsync(PendingPrefix, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (await store.GetJsonAsync<Alert>(key, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    pending.Add(entry);
                }
            }
            catch (System.Text.Json.JsonException)
            {
                await store.DeleteAsync(key, etag: null, cancellationToken).ConfigureAwait(false); // never sendable: it must not hold up the others
            }
        }

        foreach (var entry in pending.OrderBy(e => e.Value.At))
        {
            await bus.PublishAsync(Topics.Alerts, entry.Value, cancellationToken).ConfigureAwait(false);
            await store.DeleteAsync(entry.Key, etag: null, cancellationToken).ConfigureAwait(false);
        }

        return pending.Count;
    }

    /// <summary>The alert's id: the SHA-256 of its JSON, as the webhook's Idempotency-Key.</summary>
    public static string IdOf(Alert alert) => Convert.ToHexStringLower(SHA256.HashData(ShadowingJson.Serialize(alert)));
}
