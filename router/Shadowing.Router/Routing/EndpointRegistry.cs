using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Shadowing.Core.Health;
using Shadowing.Core.Routing;

namespace Shadowing.Router.Routing;

/// <summary>Holds one <see cref="EndpointRuntime"/> per (service, endpoint id, address) across snapshots.</summary>
internal sealed class EndpointRegistry(IOptions<RouterOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Service, string Id, string Address), EndpointRuntime> _runtimes = new();
    private readonly ConcurrentDictionary<string, UploadCounter> _uploads = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Forwarding.LogGate> _decisionLogs = new(StringComparer.OrdinalIgnoreCase);

    public ICollection<EndpointRuntime> All => _runtimes.Values;

    /// <summary>The service's count of requests still uploading, kept across snapshots (tables are recompiled on every poll).</summary>
    public UploadCounter Uploads(string service) => _uploads.GetOrAdd(service, _ => new UploadCounter());

    /// <summary>The service's gate on repeated routing-decision log lines (and failover alerts), kept across snapshots too.</summary>
    public Forwarding.LogGate DecisionLog(string service) => _decisionLogs.GetOrAdd(service, _ => new Forwarding.LogGate());

    public EndpointRuntime Get(string service, string id, string address, EndpointRole role, double? maxLatencyMs = null)
    {
        var runtime = _runtimes.GetOrAdd((service, id, address), key => new EndpointRuntime(
            key.Service,
            key.Id,
            key.Address,
            role,
            new EndpointHealth(options.Value.ActiveHealthChecks, options.Value.OutlierDetection),
            time,
            options.Value.LatencyEwmaAlpha,
            options.Value.LatencyMinSamples,
            options.Value.LatencyRecheckInterval));
        runtime.Role = role;
        if (maxLatencyMs is { } limit && (runtime.LatencyLimit is not { } before || limit < before))
        {
            // A limit added or lowered: the samples so far were taken uncapped (a WebSocket's whole session counts) or under a
            // higher cap, and would keep the endpoint "overloaded" for many rechecks. Start cold; the next answers judge it.
            runtime.ResetLatency();
        }

        runtime.LatencyLimit = maxLatencyMs;
        return runtime;
    }

    /// <summary>Forgets endpoints that are no longer in any routing table, returning them so their last minutes can still be recorded.</summary>
    public IReadOnlyList<EndpointRuntime> RetainOnly(IReadOnlySet<EndpointRuntime> live)
    {
        var removed = new List<EndpointRuntime>();
        foreach (var (key, runtime) in _runtimes)
        {
            if (!live.Contains(runtime) && _runtimes.TryRemove(key, out var gone))
            {
                removed.Add(gone);
            }
        }

        return removed;
    }
}

/// <summary>Requests of one service whose body is still arriving.</summary>
internal sealed class UploadCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Counts one more, unless <paramref name="limit"/> are already counted.</summary>
    public bool TryStart(int limit)
    {
        if (Interlocked.Increment(ref _count) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _count);
        return false;
    }

    public void End() => Interlocked.Decrement(ref _count);
}
