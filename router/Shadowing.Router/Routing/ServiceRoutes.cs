using System.Collections.Frozen;
using Shadowing.Core.Endpoints;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Mirroring;

namespace Shadowing.Router.Routing;

/// <summary>One service's routing table compiled for the request path: addresses parsed, runtimes attached.</summary>
internal sealed class ServiceRoutes
{
    private static readonly FrozenSet<string> IdempotentMethods =
        new[] { "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private ServiceRoutes(RoutingTable table, RoutedEndpoint[] production, RoutedEndpoint[] shadows, RoutedEndpoint? fallback, RoutedEndpoint[] probed, MirrorPlan? mirror, UploadCounter uploads, LogGate decisionLog)
    {
        Table = table;
        Uploads = uploads;
        DecisionLog = decisionLog;
        ProductionCapacity = production.Length == 0 || production.Any(p => p.MaxConcurrency is null) ? null : production.Sum(p => (long)p.MaxConcurrency!.Value);
        Mirror = mirror;
        Production = production;
        Shadows = shadows;
        Default = fallback;
        Probed = probed;
    }

    public RoutingTable Table { get; }

    public string Service => Table.Service;

    public IReadOnlyList<RoutedEndpoint> Production { get; }

    /// <summary>Shadows that may take production traffic (PreWarmed or Active, on production's data).</summary>
    public IReadOnlyList<RoutedEndpoint> Shadows { get; }

    public RoutedEndpoint? Default { get; }

    /// <summary>Holds back repeated routing-decision log lines of this service (the registry's: a poll's recompile keeps its count).</summary>
    public LogGate DecisionLog { get; }

    /// <summary>The compiled mirror policy; null when nothing of this service is mirrored.</summary>
    public MirrorPlan? Mirror { get; }

    /// <summary>The sum of the production endpoints' <c>maxConcurrency</c>; null when one of them has no limit or there are none (a default-only table: no slots to protect).</summary>
    public long? ProductionCapacity { get; }

    /// <summary>Requests of this service whose body is still arriving.</summary>
    public UploadCounter Uploads { get; }

    /// <summary>Every endpoint whose health is probed: production, default, and shadows that are not retired or failed.</summary>
    public IReadOnlyList<RoutedEndpoint> Probed { get; }

    /// <summary>
    /// Compiles a validated table; endpoints keep their runtime from <paramref name="registry"/> and get their
    /// request rewriting (destination through <paramref name="sidecar"/> for Dapr apps; route headers when
    /// <paramref name="routeHeaders"/>).
    /// </summary>
    public static ServiceRoutes Compile(RoutingTable table, EndpointRegistry registry, DaprSidecarEndpoint sidecar, bool routeHeaders)
    {
        RoutedEndpoint Routed(string id, string address, EndpointRole role, int? max, double? maxLatency)
        {
            var parsed = EndpointAddress.Parse(address);
            var transformer = new EndpointTransformer(
                sidecar.PrefixOf(parsed),
                1 + table.Service.Length,
                parsed.Scheme == EndpointScheme.Dapr ? sidecar.ApiToken : null,
                routeHeaders ? RouteNames.Of(role) : null,
                id,
                rawEncodedSlashes: parsed.Scheme != EndpointScheme.Dapr,
                throughSidecar: parsed.Scheme == EndpointScheme.Dapr);
            return new(id, role, parsed, max, maxLatency, registry.Get(table.Service, id, address, role, maxLatency), transformer);
        }

        var production = table.Production.Select(p => Routed(p.Id, p.Address, EndpointRole.Production, p.MaxConcurrency, p.MaxLatencyMs)).ToArray();
        var shadows = table.Shadows
            .Where(s => s.State is not (ShadowState.Retired or ShadowState.Failed))
            .Select(s => (s.State, OwnData: s.DataIsolated || s.DataMasked, Endpoint: Routed(s.Id, s.Address, EndpointRole.Shadow, s.MaxConcurrency, s.MaxLatencyMs)))
            .ToArray();
        var fallback = table.Default is { } d ? Routed(d.Id, d.Address, EndpointRole.Default, null, null) : null;
        var probed = production.Concat(shadows.Select(s => s.Endpoint)).Concat(fallback is null ? [] : [fallback]).ToArray();
        return new ServiceRoutes(
            table,
            production,
            // Never one on its own copy of the data: real users would read that copy (masked, shifted or synthetic) and their
            // writes would be deleted with it. It is warmed and validated like any shadow, but takes no client traffic. A
            // masked copy is one whatever dataIsolated says (the data sync marks it masked before it marks it isolated).
            shadows.Where(s => ShadowLifecycle.IsRoutable(s.State) && !s.OwnData).Select(s => s.Endpoint).ToArray(),
            fallback,
            probed,
            MirrorPlan.Compile(table, shadows.Select(s => s.Endpoint).ToArray(), production),
            registry.Uploads(table.Service),
            registry.DecisionLog(table.Service));
    }

    /// <summary>
    /// Whether a request may be retried on another endpoint: GET, HEAD, OPTIONS, PUT, DELETE and TRACE always,
    /// others when a rule of the table matches the method and the path below the service.
    /// </summary>
    /// <param name="method">The request method.</param>
    /// <param name="requestPath">The whole request path, <c>/{service}/…</c>.</param>
    public bool IsIdempotent(string method, string requestPath)
    {
        if (IdempotentMethods.Contains(method))
        {
            return true;
        }

        var below = requestPath.Length > 1 + Service.Length ? requestPath.AsSpan(1 + Service.Length) : "/";
        foreach (var rule in Table.IdempotentRequests)
        {
            if (string.Equals(rule.Method, method, StringComparison.OrdinalIgnoreCase)
                && (rule.PathPrefix is null || IsUnder(below, rule.PathPrefix)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="prefix"/> or below it, by whole segments (<c>/search</c> is not under <c>/sea</c>).</summary>
    private static bool IsUnder(ReadOnlySpan<char> path, string prefix) =>
        path.StartsWith(prefix, StringComparison.Ordinal)
        && (path.Length == prefix.Length || prefix.EndsWith('/') || path[prefix.Length] == '/');
}
