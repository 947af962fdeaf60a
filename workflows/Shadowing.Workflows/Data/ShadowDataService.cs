using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Data;
using Shadowing.Core.Data.Synthetic;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Data;

/// <summary>
/// Runs a shadow's data sync as its service's settings ask (<see cref="ShadowDataOptions"/>): the SyncShadowData activity
/// seeds the copy and marks the shadow <c>dataIsolated</c> (which lets the mirror send it writes), the maintenance tick
/// keeps every isolated shadow's copy current, and retirement deletes the copy and records that it did. The lag of each
/// copy is exported as <c>shadowing_shadow_data_lag_seconds</c> (meter <see cref="MeterName"/>).
/// </summary>
public sealed partial class ShadowDataService
{
    /// <summary>The meter of the copies' lag.</summary>
    public const string MeterName = "Shadowing.Data";

    private readonly RoutingTableStore _tables;
    private readonly IStateStore _store;
    private readonly IChangeFeed? _feed;
    private readonly IProductionData? _production;
    private readonly IOptionsMonitor<ShadowDataOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ShadowDataService> _logger;
    private readonly TimeSpan _retention;
    // When each copy's oldest missing change was made (null: it had every change at its last run), so the exported lag
    // keeps growing between runs instead of holding the value of the last one.
    private readonly ConcurrentDictionary<(string Service, string Shadow), DateTimeOffset?> _behind = new();
    private readonly ConcurrentDictionary<(string Service, string Shadow), DateTimeOffset> _synced = new();

    // One data operation per shadow at a time: a sync finishing after the retirement's delete would leave a copy behind.
    private readonly ConcurrentDictionary<(string Service, string Shadow), SemaphoreSlim> _gates = new();

    /// <summary>
    /// Creates the service; <paramref name="feed"/> is null where the deployment has no change feed, and
    /// <paramref name="production"/> where production data is in <paramref name="store"/> (embedded).
    /// </summary>
    public ShadowDataService(RoutingTableStore tables, IStateStore store, IChangeFeed? feed, IOptionsMonitor<ShadowDataOptions> options, IOptions<ShadowLifecycleOptions> lifecycle, IMeterFactory meterFactory, TimeProvider time, ILogger<ShadowDataService> logger, IProductionData? production = null)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(lifecycle);
        (_tables, _store, _feed, _options, _time, _logger, _production) = (tables, store, feed, options, time, logger, production);
        _retention = lifecycle.Value.DataChangeRetention;
        meterFactory.Create(MeterName).CreateObservableGauge(
            "shadowing.shadow.data.lag",
            () => _behind.Select(l => new Measurement<double>(l.Value is { } behind && _time.GetUtcNow() > behind ? (_time.GetUtcNow() - behind).TotalSeconds : 0, new("service", l.Key.Service), new("shadow", l.Key.Shadow))),
            "s",
            "How far a shadow's own copy of its service's data trails production (0 when it has every change).");
    }

    /// <summary>Syncs one shadow's data as its service asks, marks it isolated when it has a copy, and records what happened.</summary>
    public async Task<ShadowSyncRecord> SyncAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        var gate = _gates.GetOrAdd((service, shadowId), _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await SyncLockedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<ShadowSyncRecord> SyncLockedAsync(string service, string shadowId, CancellationToken cancellationToken)
    {
        var earlier = (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord(service, shadowId), cancellationToken).ConfigureAwait(false))?.Value;
        if (earlier is { Mode: "deleted" })
        {
            return earlier; // retired: its copy is not made again
        }

        var options = _options.Get(service);
        ShadowSyncRecord record;
        if (options.Mode == DataSyncMode.None)
        {
            record = new ShadowSyncRecord("none", $"no data sync requested ({ShadowDataOptions.Section}:{service}:Mode)", _time.GetUtcNow());
        }
        else if (_feed is null && options.Mode != DataSyncMode.Synthetic)
        {
            record = new ShadowSyncRecord("none", $"{options.Mode} sync was asked for, but this deployment has no change feed; the shadow runs without a copy and gets no mirrored writes", _time.GetUtcNow());
        }
        else if (options.Mode == DataSyncMode.TimeShifted && options.Shift >= _retention)
        {
            // A time-shifted copy replays the change log; once pruning passes the shift it could never be made again.
            record = new ShadowSyncRecord("none", string.Create(CultureInfo.InvariantCulture, $"time-shifted sync refused: {ShadowDataOptions.Section}:{service}:Shift ({options.Shift}) must be shorter than {ShadowLifecycleOptions.Section}:DataChangeRetention ({_retention}), which the change feed keeps"), _time.GetUtcNow());
        }
        else if (options.Mode == DataSyncMode.Synthetic)
        {
            await MarkMaskedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
            record = await SynthesizeAsync(service, shadowId, options, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            if (options.Mask)
            {
                await MarkMaskedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
            }

            var key = options.Mask ? await MaskKeyAsync(cancellationToken).ConfigureAwait(false) : null;
            var masker = key is null ? null : new DataMasker([.. options.MaskFields], options.Seed, key);
            // The masker's version and key (by a digest of it): a copy masked by an earlier one seeds again (replacements
            // changed shape, or it left personal data a later one masks) rather than mix the two for one customer, or keep
            // what it missed.
            var settings = key is null ? "unmasked"
                : string.Create(CultureInfo.InvariantCulture, $"mask={string.Join(',', options.MaskFields)};seed={options.Seed};masker={DataMasker.Version};key={Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(key), 0, 4)}");
            SyncProgress progress;
            try
            {
                progress = await new DataSync(_feed!, ProductionOf(service), _store, _time, transform: masker is null ? null : masker.Mask, settings: settings).RunAsync(service, shadowId, options.EffectiveShift, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A sync that keeps failing (the store down, the log pruned) may be missing every change since its last
                // success: its lag grows from there instead of reading 0 until the next success, here and in the status API.
                if (_synced.TryGetValue((service, shadowId), out var synced))
                {
                    _behind.AddOrUpdate((service, shadowId), synced, (_, kept) => kept is { } k && k < synced ? k : synced);
                }

                await RecordFailureAsync(service, shadowId, ex, cancellationToken).ConfigureAwait(false);
                throw;
            }

            await SetIsolatedAsync(service, shadowId, masked: options.Mask, cancellationToken).ConfigureAwait(false);
            _behind[(service, shadowId)] = progress.Behind;
            _synced[(service, shadowId)] = _time.GetUtcNow();
            var note = string.Create(CultureInfo.InvariantCulture, $"{(progress.Seeded ? $"seeded ({progress.Copied} copied, {progress.Deleted} deleted), " : string.Empty)}{progress.Applied} change(s) applied up to sequence {progress.Sequence}, {progress.ShippedBytes} bytes shipped, lag {progress.Lag.TotalSeconds:F0} s");
            record = new ShadowSyncRecord(options.Mode == DataSyncMode.TimeShifted ? "time-shifted" : "differential", note, _time.GetUtcNow(), progress.Lag.TotalSeconds);
        }

        if (record.Mode == "none" && earlier is { Mode: not "none" } copy)
        {
            // A copy made by an earlier sync (the settings changed since, or are refused now) stays as it was, isolated, until
            // the shadow retires: recorded as a sync that fails, so its lag grows from the last sync (here and in the status
            // API) rather than reading 0, and its mode stays the copy's, so retirement and the orphan sweep delete it.
            var since = copy.FailingSince ?? _time.GetUtcNow();
            var complete = copy.At - TimeSpan.FromSeconds(copy.LagSeconds ?? 0);
            _behind.AddOrUpdate((service, shadowId), complete, (_, kept) => kept is { } k && k < complete ? k : complete);
            record = copy with { Note = string.Create(CultureInfo.InvariantCulture, $"not synced since {since:u}: {record.Note}; the copy made before stays as it was until the shadow retires"), FailingSince = since };
        }

        await _store.SaveJsonAsync(StateKeys.ShadowSyncRecord(service, shadowId), record, cancellationToken: cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>Marks the shadow's sync record failing (since when, and why), keeping when it last succeeded; best effort.</summary>
    private async Task RecordFailureAsync(string service, string shadowId, Exception error, CancellationToken cancellationToken)
    {
        try
        {
            var key = StateKeys.ShadowSyncRecord(service, shadowId);
            if (await _store.GetJsonAsync<ShadowSyncRecord>(key, cancellationToken).ConfigureAwait(false) is not { Value: { Mode: not "deleted" } earlier } entry)
            {
                return; // never synced (its first run's failure is the activity's), or retired meanwhile
            }

            // With the ETag: a retirement on another host that recorded "deleted" since is not written over.
            var since = earlier.FailingSince ?? _time.GetUtcNow();
            await _store.SaveJsonAsync(key, earlier with { Note = $"failing since {since:u}: {error.Message}", FailingSince = since }, entry.ETag, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Best effort, and never in place of the sync's own error: the store that failed the sync may fail this too (a
            // conflict included); the host's log and the lag metric still say it.
        }
    }

    /// <summary>
    /// Synthetic data: learns a profile from up to <see cref="ShadowDataOptions.SampleSize"/> production records and writes
    /// as many generated records as production has (or <see cref="ShadowDataOptions.SyntheticRecords"/>), seeded, in place of
    /// whatever the shadow had. Deterministic for a given sample and seed, so a rerun writes the same records.
    /// </summary>
    private async Task<ShadowSyncRecord> SynthesizeAsync(string service, string shadowId, ShadowDataOptions options, CancellationToken cancellationToken)
    {
        var source = StateKeys.Data(service);
        var target = StateKeys.ShadowData(service, shadowId);
        // Production's keys from the change feed where there is one: with Dapr, production writes go through the outbox
        // component straight to the store, and the state adapter's listing index never hears of them.
        IReadOnlyList<string> keys = _feed is null
            ? await _store.ListKeysAsync(source, cancellationToken).ConfigureAwait(false)
            : [.. (await _feed.ListAsync(source, cancellationToken).ConfigureAwait(false)).Entries.Select(e => e.Key)];
        var sample = new List<(string, ReadOnlyMemory<byte>)>();
        var wanted = Math.Min(options.SampleSize, keys.Count);
        for (var j = 0; j < wanted; j++)
        {
            var i = (int)((long)j * keys.Count / wanted); // spread evenly over the key space, not the first keys only
            if (await ProductionOf(service).GetAsync(keys[i], cancellationToken).ConfigureAwait(false) is { } item)
            {
                sample.Add((keys[i][source.Length..], item.Value));
            }
        }

        await DataSync.DeleteCopyAsync(_store, service, shadowId, cancellationToken).ConfigureAwait(false);
        var count = options.SyntheticRecords ?? keys.Count;
        var written = 0;
        var batch = new List<StateOperation>();
        foreach (var (key, value) in DataProfile.Learn(sample, [.. options.MaskFields]).Generate(count, RandomSource.Seeded(options.Seed)))
        {
            batch.Add(StateOperation.Upsert(target + key, value));
            written++;
            if (batch.Count == 500)
            {
                await DataSync.TransactBoundedAsync(_store, batch, cancellationToken).ConfigureAwait(false);
                batch.Clear();
            }
        }

        await DataSync.TransactBoundedAsync(_store, batch, cancellationToken).ConfigureAwait(false);

        await SetIsolatedAsync(service, shadowId, masked: true, cancellationToken).ConfigureAwait(false);
        return new ShadowSyncRecord("synthetic", string.Create(CultureInfo.InvariantCulture, $"{written} synthetic record(s) from a profile of {sample.Count} production record(s), seed {options.Seed}"), _time.GetUtcNow());
    }

    /// <summary>
    /// The maintenance tick: keeps every isolated, running shadow's copy current (one that fails does not stop the others),
    /// then prunes changes older than <see cref="ShadowLifecycleOptions.DataChangeRetention"/> from the change feed: in that
    /// order, so copies a host left behind while it was down catch up from the log rather than be seeded again.
    /// </summary>
    public async Task SyncAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (var entry in await _tables.ListAsync((service, ex) => LogTableUnreadable(ex, service), cancellationToken).ConfigureAwait(false))
        {
            ShadowDataOptions options;
            try
            {
                options = _options.Get(entry.Value.Service);
            }
            catch (OptionsValidationException ex)
            {
                // One service's bad setting must not stop the others' sync: theirs would fall behind the retention and seed again.
                LogSettingsInvalid(entry.Value.Service, ex.Message);
                continue;
            }

            if (options.Mode == DataSyncMode.Synthetic)
            {
                // Generated once; a copy made before shadows were marked masked is marked now, so it gets no more writes.
                foreach (var shadow in entry.Value.Shadows.Where(s => s is { DataIsolated: true, DataMasked: false }))
                {
                    try
                    {
                        await MarkMaskedAsync(entry.Value.Service, shadow.Id, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        LogSyncFailed(ex, entry.Value.Service, shadow.Id); // one that fails does not stop the others
                    }
                }

                continue;
            }

            // With None, only shadows that have a copy from before the setting changed (they are isolated): their records
            // say since when the copy is not synced, and their lag grows, rather than keep the last sync's "lag 0".
            foreach (var shadow in entry.Value.Shadows.Where(s => s.DataIsolated && s.State is not (ShadowState.Draining or ShadowState.Retired or ShadowState.Failed)))
            {
                try
                {
                    await SyncAsync(entry.Value.Service, shadow.Id, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    LogSyncFailed(ex, entry.Value.Service, shadow.Id);
                }
            }
        }

        if (_feed is not null && await _feed.PruneAsync(_time.GetUtcNow() - _retention, cancellationToken).ConfigureAwait(false) is > 0 and var pruned)
        {
            LogPruned(pruned, _retention);
        }
    }

    /// <summary>Deletes a retired shadow's copy and its watermark, and records the deletion; safe to repeat.</summary>
    public async Task<int> DeleteAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        var gate = _gates.GetOrAdd((service, shadowId), _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await DeleteLockedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<int> DeleteLockedAsync(string service, string shadowId, CancellationToken cancellationToken)
    {
        var deleted = await DataSync.DeleteCopyAsync(_store, service, shadowId, cancellationToken).ConfigureAwait(false);
        _behind.TryRemove((service, shadowId), out _);
        _synced.TryRemove((service, shadowId), out _);
        var earlier = (await _store.GetJsonAsync<ShadowSyncRecord>(StateKeys.ShadowSyncRecord(service, shadowId), cancellationToken).ConfigureAwait(false))?.Value;
        // Recorded also for a shadow never synced, so a sync activity retried after the retirement makes no copy.
        if (earlier is null || (earlier.Mode != "none" && (earlier.Mode != "deleted" || deleted > 0)))
        {
            await _store.SaveJsonAsync(StateKeys.ShadowSyncRecord(service, shadowId), new ShadowSyncRecord("deleted", string.Create(CultureInfo.InvariantCulture, $"the shadow retired: its copy ({deleted} record(s)) and watermark were deleted"), _time.GetUtcNow()), cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return deleted;
    }

    private IStateStore ProductionOf(string service) => _production?.Of(service) ?? _store;

    /// <summary>
    /// The masking key: 32 random bytes made by the first sync that masks and kept in Shadowing's own state, which
    /// production apps and shadows cannot read (their components have keys of their own). Read at every sync, not kept:
    /// every host masks with the one stored, and one deleted is replaced at the next sync. From the system's secure
    /// generator, not <see cref="Core.Randomness.IRandomSource"/>: a key that a seed could reproduce would be no secret.
    /// </summary>
    private async Task<byte[]> MaskKeyAsync(CancellationToken cancellationToken)
    {
        if ((await _store.GetJsonAsync<string>(StateKeys.MaskKey, cancellationToken).ConfigureAwait(false))?.Value is not { } stored)
        {
            await _store.TryCreateJsonAsync(StateKeys.MaskKey, Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), cancellationToken).ConfigureAwait(false);
            stored = (await _store.GetJsonAsync<string>(StateKeys.MaskKey, cancellationToken).ConfigureAwait(false))?.Value
                ?? throw new InvalidOperationException($"the masking key '{StateKeys.MaskKey}' vanished as it was made; the next sync tries again");
        }

        return Convert.FromBase64String(stored);
    }

    /// <summary>
    /// Marks the shadow's data masked before a masked or synthetic copy is written over an unmasked one (the settings
    /// changed), so mirrored writes stop before the copy's values are replaced rather than after; nothing if it already is.
    /// </summary>
    private Task MarkMaskedAsync(string service, string shadowId, CancellationToken cancellationToken) =>
        ChangeShadowAsync(service, shadowId, s => s.DataMasked ? s : s with { DataMasked = true }, cancellationToken);

    /// <summary>Marks the shadow as on its own data, and whether that data is masked (see <see cref="ShadowEndpoint.DataMasked"/>).</summary>
    private Task SetIsolatedAsync(string service, string shadowId, bool masked, CancellationToken cancellationToken) =>
        ChangeShadowAsync(service, shadowId, s => s.DataIsolated && s.DataMasked == masked ? s : s with { DataIsolated = true, DataMasked = masked }, cancellationToken);

    /// <summary>
    /// Changes the shadow's entry, written (and announced to the routers) only when that changes it: the tick calls this
    /// for every copy it syncs.
    /// </summary>
    private async Task ChangeShadowAsync(string service, string shadowId, Func<ShadowEndpoint, ShadowEndpoint> change, CancellationToken cancellationToken)
    {
        var stored = (await _tables.GetAsync(service, cancellationToken).ConfigureAwait(false))?.Value
            ?? throw new InvalidOperationException($"service '{service}' has no routing table");
        if (stored.Shadows.FirstOrDefault(s => s.Id == shadowId) is not { } shadow || change(shadow) == shadow)
        {
            return;
        }

        await _tables.UpdateAsync(
            service,
            table => table is null
                ? throw new InvalidOperationException($"service '{service}' has no routing table")
                : table with { Shadows = [.. table.Shadows.Select(s => s.Id == shadowId ? change(s) : s)] },
            cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 91, Level = LogLevel.Information, Message = "Data sync: pruned {Count} change(s) older than {Retention} from the change feed")]
    private partial void LogPruned(int count, TimeSpan retention);

    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Data sync of {Service}'s shadows skipped: its routing table cannot be read; the next tick tries again")]
    private partial void LogTableUnreadable(Exception exception, string service);

    [LoggerMessage(EventId = 96, Level = LogLevel.Error, Message = "Data sync of {Service}'s shadows skipped: its settings are invalid ({Problems}); the next tick tries again")]
    private partial void LogSettingsInvalid(string service, string problems);

    [LoggerMessage(EventId = 90, Level = LogLevel.Warning, Message = "Data sync of shadow {ShadowId} of {Service} failed; it is tried again on the next tick")]
    private partial void LogSyncFailed(Exception error, string service, string shadowId);
}
