using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Router.Forwarding;

namespace Shadowing.Router.Routing;

/// <summary>How fresh the router's routing tables are, for <c>/healthz</c>.</summary>
/// <param name="Loaded">A full load has succeeded since start, or one read some tables though not every one (see <see cref="RoutingSnapshot.Unread"/>).</param>
/// <param name="Stale">The latest refresh failed: the router serves the last good tables.</param>
/// <param name="LastSuccessAt">When tables were last read successfully.</param>
/// <param name="LastAttemptAt">When a refresh was last attempted.</param>
/// <param name="LastError">Why the latest refresh failed, when it did.</param>
internal sealed record RoutingTableStatus(bool Loaded, bool Stale, DateTimeOffset? LastSuccessAt, DateTimeOffset? LastAttemptAt, string? LastError);

/// <summary>
/// Keeps the router's routing tables: an immutable <see cref="RoutingSnapshot"/> swapped atomically, loaded at
/// start, refreshed per service on <c>routing-changed</c> events and in full on a periodic poll. When the store
/// fails, the last good snapshot stays in service and <see cref="Status"/> says it is stale. A table that does
/// not parse or validate is logged and its previous version kept; with none, it counts as unread (503, stale).
/// </summary>
internal sealed partial class RoutingTableCache(
    RoutingTableStore tables,
    IEventBus bus,
    EndpointRegistry registry,
    DaprSidecarEndpoint sidecar,
    Alerts.AlertPublisher alerts,
    IOptions<RouterOptions> options,
    TimeProvider time,
    ILogger<RoutingTableCache> logger) : BackgroundService
{
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private volatile RoutingSnapshot _snapshot = RoutingSnapshot.Empty;
    private volatile RoutingTableStatus _status = new(false, false, null, null, null);
    private volatile bool _retrySoon;
    private IDisposable? _subscription;

    /// <summary>The tables to route with right now.</summary>
    public RoutingSnapshot Current => _snapshot;

    public RoutingTableStatus Status => _status;

    /// <summary>Runtimes of endpoints removed from every table, whose last minutes the metric recorder still has to write.</summary>
    public ConcurrentQueue<EndpointRuntime> Removed { get; } = new();

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = bus.Subscribe<RoutingChanged>(Topics.RoutingChanged, "router", (changed, ct) => RefreshServiceAsync(changed.Service, ct));
        await RefreshAllAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _refreshing.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Re-reads every table. Returns false when the store fails: the current snapshot stays when the tables cannot be
    /// listed; a table that cannot be read keeps its current version while the others are refreshed, and the tables are
    /// stale until every one is read.
    /// </summary>
    public async Task<bool> RefreshAllAsync(CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var attemptAt = time.GetUtcNow();
            var previous = _snapshot;
            var compiled = new Dictionary<string, ServiceRoutes>(StringComparer.OrdinalIgnoreCase);
            IReadOnlyList<string> services;
            try
            {
                services = await tables.ListServicesAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (StateStoreException ex)
            {
                MarkStale(attemptAt, ex);
                return false;
            }

            StateStoreException? unread = null;
            HashSet<string>? missing = null;
            var answered = false; // the store gave back some table, if only one that is not valid
            var retrySoon = false;
            foreach (var service in services)
            {
                ServiceRoutes? routes;
                try
                {
                    routes = await LoadAsync(service, previous, cancellationToken).ConfigureAwait(false);
                }
                catch (StateStoreException ex)
                {
                    // One table the store cannot give back must not hold every other table's changes back from the router.
                    unread ??= ex;
                    answered |= ex is InvalidTableException;
                    if (!previous.Services.TryGetValue(service, out routes))
                    {
                        (missing ??= new(StringComparer.OrdinalIgnoreCase)).Add(service);
                        retrySoon |= ex is not InvalidTableException; // reading it again soon does not mend its content
                    }
                }

                if (routes is not null)
                {
                    compiled[routes.Service] = routes;
                }
            }

            Publish(compiled, unread is null ? attemptAt : null, missing);
            _retrySoon = retrySoon;
            if (unread is not null)
            {
                // Loaded once the store answered with some tables: one bad key must not keep every replica unready (503
                // on /healthz) and every service unrouted; the tables are stale (Degraded) until each one is read.
                MarkStale(attemptAt, unread, loaded: compiled.Count > 0 || answered);
                return false;
            }

            return true;
        }
        finally
        {
            _refreshing.Release();
        }
    }

    /// <summary>Re-reads one service's table after a <c>routing-changed</c> event.</summary>
    public async Task RefreshServiceAsync(string service, CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var attemptAt = time.GetUtcNow();
            var previous = _snapshot;
            ServiceRoutes? routes;
            try
            {
                routes = await LoadAsync(service, previous, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidTableException ex)
            {
                // Its content, not the store: redelivering the event cannot mend it. 503 until a valid version is written.
                MarkStale(attemptAt, ex);
                var kept = previous.Services.ToDictionary(StringComparer.OrdinalIgnoreCase);
                kept.Remove(service);
                Publish(kept, successAt: null, previous.Unread.Append(service));
                return;
            }
            catch (StateStoreException ex)
            {
                MarkStale(attemptAt, ex);
                throw; // let the bus redeliver the event
            }

            var compiled = previous.Services.ToDictionary(StringComparer.OrdinalIgnoreCase);
            compiled.Remove(service);
            if (routes is not null)
            {
                compiled[routes.Service] = routes;
            }

            // A single-service refresh proves the store answers, but not that every other table is current: the status is
            // the full poll's to set.
            Publish(compiled, successAt: null, previous.Unread.Where(s => !string.Equals(s, service, StringComparison.OrdinalIgnoreCase)));
        }
        finally
        {
            _refreshing.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var poll = options.Value.PollInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Until the first load succeeds, and while a table was never read, retry sooner than the poll interval.
            // A table whose content is invalid waits for the poll: reading it every second would not mend it.
            var wait = _status.Loaded && !_retrySoon ? poll : TimeSpan.FromTicks(Math.Min(poll.Ticks, TimeSpan.FromSeconds(1).Ticks));
            if (!await BackgroundLoop.WaitAsync(wait, time, stoppingToken).ConfigureAwait(false)
                || !await BackgroundLoop.RunOnceAsync("routing-refresh", RefreshAllAsync, LogRefreshFailed, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private async Task<ServiceRoutes?> LoadAsync(string service, RoutingSnapshot previous, CancellationToken cancellationToken)
    {
        previous.Services.TryGetValue(service, out var current);
        StateEntry<RoutingTable>? entry;
        try
        {
            entry = await tables.GetAsync(service, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            // With no version to keep, the service's requests must not be answered 404 (a client does not retry one) while
            // /healthz says Healthy: it counts as a table the store cannot give back (503, Degraded), as a newer version's
            // table does on a router rolled back.
            if (current is null)
            {
                throw new InvalidTableException($"The stored routing table of service '{service}' is not valid JSON for a routing table: {ex.Message}", ex);
            }

            LogUnreadableTable(ex, service);
            return current;
        }

        if (entry is null)
        {
            return null;
        }

        var errors = RoutingTableValidator.Validate(entry.Value);
        if (errors.Count > 0 || !string.Equals(entry.Value.Service, service, StringComparison.OrdinalIgnoreCase))
        {
            var why = errors.Count > 0 ? string.Join("; ", errors) : $"the table names service '{entry.Value.Service}'";
            if (current is null)
            {
                throw new InvalidTableException($"The stored routing table of service '{service}' is invalid ({why})");
            }

            LogInvalidTable(service, why);
            return current;
        }

        // Recompiling is cheap and keeps health: endpoint runtimes come back from the registry unchanged.
        return ServiceRoutes.Compile(entry.Value, registry, sidecar, options.Value.RouteHeaders);
    }

    private void Publish(Dictionary<string, ServiceRoutes> compiled, DateTimeOffset? successAt, IEnumerable<string>? unread)
    {
        var snapshot = new RoutingSnapshot(compiled.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), time.GetUtcNow(), unread?.ToFrozenSet(StringComparer.OrdinalIgnoreCase));
        _snapshot = snapshot;
        var live = snapshot.Services.Values.SelectMany(s => s.Probed).Select(e => e.Runtime).ToHashSet();
        foreach (var removed in registry.RetainOnly(live))
        {
            Removed.Enqueue(removed);
        }

        var wasStale = _status.Stale;
        if (successAt is { } at)
        {
            _status = new RoutingTableStatus(true, false, at, at, null);
            if (wasStale)
            {
                LogRecovered(snapshot.Services.Count);
            }
        }
    }

    private void MarkStale(DateTimeOffset attemptAt, StateStoreException error, bool loaded = false)
    {
        var status = _status;
        if (!status.Stale)
        {
            LogStale(error, status.LastSuccessAt);
        }

        // Raised at every failed attempt (the publisher lets one through a minute), not only the first: the bus often
        // shares the store's backend, so the first alert of an outage is the one most likely to be lost.
        alerts.TryRaise(Core.Validation.AlertKind.StaleRoutingTable, "*", null, $"routing tables cannot be read ({error.Message}); {(status.LastSuccessAt is { } at ? $"serving those read at {at:u}" : "serving the ones read so far")}", Core.State.StateKeys.RoutingPrefix);

        _status = status with { Loaded = status.Loaded || loaded, Stale = true, LastAttemptAt = attemptAt, LastError = error.Message };
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Error, Message = "Reading routing tables failed; serving the last good tables (read at {LastSuccessAt:u}) until the store answers again")]
    private partial void LogStale(Exception error, DateTimeOffset? lastSuccessAt);

    [LoggerMessage(EventId = 14, Level = LogLevel.Error, Message = "Refreshing the routing tables failed unexpectedly; serving the current tables and retrying at the next poll")]
    private partial void LogRefreshFailed(Exception error);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Routing tables readable again: {Services} service(s) loaded")]
    private partial void LogRecovered(int services);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "The stored routing table of service {Service} is not valid JSON for a routing table; keeping its previous version")]
    private partial void LogUnreadableTable(Exception error, string service);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "The stored routing table of service {Service} is invalid ({Errors}); keeping its previous version")]
    private partial void LogInvalidTable(string service, string errors);

    /// <summary>A stored table with no previous version that does not parse or validate: answered as unread, retried at the poll.</summary>
    private sealed class InvalidTableException(string message, Exception? inner = null) : StateStoreException(message, inner);
}
