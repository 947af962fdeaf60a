using System.Collections.Frozen;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Router;
using Shadowing.Router.Forwarding;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Routing;

namespace Shadowing.Benchmarks;

/// <summary>
/// The router's per-request decisions, without the network: the ARC choice for a request with 10,000 services in
/// the routing snapshot (service lookup, selection, slot reservation), the mirror decision for a consistent
/// selector (in and out of the sample) and a random one, and a per-minute record. Allocations are reported.
/// </summary>
[MemoryDiagnoser]
public class RouterBenchmarks
{
    private const int Services = 10_000;
    private FrozenDictionary<string, ServiceRoutes> _snapshot = null!;
    private string[] _names = null!;
    private RouteSelector _selector = null!;
    private MirrorPlan _consistent = null!;
    private MirrorPlan _random = null!;
    private HttpRequest _sampled = null!;
    private HttpRequest _notSampled = null!;
    private IRandomSource _randomSource = null!;
    private RoutedEndpoint _endpoint = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var registry = new EndpointRegistry(Options.Create(new RouterOptions()), TimeProvider.System);
        var sidecar = DaprSidecarEndpoint.FromConfiguration(new ConfigurationBuilder().Build());
        _names = [.. Enumerable.Range(0, Services).Select(i => $"service-{i:D5}")];
        _snapshot = _names
            .Select(name => ServiceRoutes.Compile(Table(name, null), registry, sidecar, routeHeaders: true))
            .ToFrozenDictionary(r => r.Service, StringComparer.OrdinalIgnoreCase);
        _randomSource = RandomSource.Seeded(1);
        _selector = new RouteSelector(_randomSource);
        var byUser = new MirrorPolicy { Percent = 10, Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" } };
        _consistent = ServiceRoutes.Compile(Table("orders", byUser), registry, sidecar, routeHeaders: true).Mirror!;
        _random = ServiceRoutes.Compile(Table("orders", new MirrorPolicy { Percent = 10 }), registry, sidecar, routeHeaders: true).Mirror!;
        var users = Enumerable.Range(0, 1000).Select(i => $"user-{i}").ToArray();
        _sampled = Request(users.First(_consistent.Samples));
        _notSampled = Request(users.First(u => !_consistent.Samples(u)));
        _endpoint = _snapshot[_names[0]].Production[0];
    }

    /// <summary>Find the service among 10,000, choose an endpoint, reserve and release its slot.</summary>
    [Benchmark]
    public object? ArcDecision()
    {
        var name = _names[_next++ % Services];
        var routes = _snapshot[name];
        var decision = _selector.Select(routes.Production, routes.Shadows, routes.Default);
        var target = decision.Target;
        if (target is not null && target.Runtime.TryEnter(target.MaxConcurrency))
        {
            target.Runtime.Exit();
        }

        return target;
    }

    /// <summary>The same, always for one service: what the table's size (cache misses over 30,000 endpoints) adds.</summary>
    [Benchmark]
    public object? ArcDecisionOneService()
    {
        var routes = _snapshot[_names[0]];
        var target = _selector.Select(routes.Production, routes.Shadows, routes.Default).Target;
        if (target is not null && target.Runtime.TryEnter(target.MaxConcurrency))
        {
            target.Runtime.Exit();
        }

        return target;
    }

    /// <summary>Consistent by header, the user in the 10 % sample.</summary>
    [Benchmark]
    public int MirrorDecisionSampled() => (int) _consistent.Decide(_sampled, 7, _randomSource, out _, out _);

    /// <summary>Consistent by header, the user not in the sample: the common case.</summary>
    [Benchmark]
    public int MirrorDecisionNotSampled() => (int) _consistent.Decide(_notSampled, 7, _randomSource, out _, out _);

    /// <summary>Random 10 %.</summary>
    [Benchmark]
    public int MirrorDecisionRandom() => (int) _random.Decide(_notSampled, 7, _randomSource, out _, out _);

    /// <summary>One request into the endpoint's current minute (the lock-free path).</summary>
    [Benchmark]
    public void MinuteRecord() => _endpoint.Runtime.Minutes.Record(TimeProvider.System.GetUtcNow(), 12.5, error: false);

    private static RoutingTable Table(string service, MirrorPolicy? mirror) => new()
    {
        Service = service,
        Production =
        [
            new ProductionEndpoint { Id = "p1", Address = $"http://{service}-1.internal:8080", MaxConcurrency = 1000, MaxLatencyMs = 500 },
            new ProductionEndpoint { Id = "p2", Address = $"http://{service}-2.internal:8080", MaxConcurrency = 1000, MaxLatencyMs = 500 },
        ],
        Shadows = [new ShadowEndpoint { Id = "s1", Address = $"dapr://{service}-shadow", State = ShadowState.PreWarmed }],
        Default = new DefaultEndpoint { Id = "busy", Address = "http://busy.internal" },
        Mirror = mirror,
    };

    private static HttpRequest Request(string user)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/orders/api/items/42";
        context.Request.Headers["x-user"] = user;
        return context.Request;
    }
}
