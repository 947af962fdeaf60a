using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Shadowing.Core.Health;
using Shadowing.Core.Routing;

namespace Shadowing.Router.Routing;

/// <summary>Holds one <see cref="EndpointRuntime"/> per (service, endpoint id, address) across snapshots.</summary>
internal sealed class EndpointRegistry(IOptions<RouterOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Service, string Id, string Address), EndpointRuntime> _runtimes = new();

    public ICollection<EndpointRuntime> All => _runtimes.Values;

    public EndpointRuntime Get(string service, string id, string address, EndpointRole role)
    {
        var runtime = _runtimes.GetOrAdd((service, id, address), key => new EndpointRuntime(
            key.Service,
            key.Id,
            key.Address,
            role,
            new EndpointHealth(options.Value.ActiveHealthChecks, options.Value.OutlierDetection),
            time,
            options.Value.LatencyEwmaAlpha,
            options.Value.LatencyMinSamples));
        runtime.Role = role;
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
