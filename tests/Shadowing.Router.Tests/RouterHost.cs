using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;
using Shadowing.Router.Hosting;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;

namespace Shadowing.Router.Tests;

/// <summary>
/// The real router on a loopback port over an in-memory SQLite store (wrapped so tests can make it fail) and
/// the in-process bus, with fast health checks.
/// </summary>
internal sealed class RouterHost : IAsyncDisposable
{
    private readonly SqliteStateStore? _sqlite;

    private RouterHost(WebApplication app, SqliteStateStore? sqlite, FlakyStateStore store, InProcessEventBus bus)
    {
        App = app;
        _sqlite = sqlite;
        Store = store;
        Bus = bus;
        Address = LoopbackApp.AddressOf(app);
        Client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public FlakyStateStore Store { get; }

    public InProcessEventBus Bus { get; }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public RoutingTableStore Tables => App.Services.GetRequiredService<RoutingTableStore>();

    public static IReadOnlyDictionary<string, string?> FastHealthChecks { get; } = new Dictionary<string, string?>
    {
        ["Router:PollInterval"] = "00:00:00.200",
        // Short, but with a timeout and a run of failures that survive a stall of a second or so on a machine busy training
        // models in a parallel test assembly (a healthy endpoint marked unhealthy fails the tests that expect it to serve).
        ["Router:ActiveHealthChecks:Interval"] = "00:00:00.400",
        ["Router:ActiveHealthChecks:Timeout"] = "00:00:00.350",
        ["Router:ActiveHealthChecks:HealthyThreshold"] = "2",
        ["Router:ActiveHealthChecks:UnhealthyThreshold"] = "3",
        ["Router:OutlierDetection:ConsecutiveFailures"] = "3",
        ["Router:OutlierDetection:BaseEjectionTime"] = "00:00:01",
        ["Router:OutlierDetection:MaxEjectionTime"] = "00:00:05",
    };

    /// <summary>
    /// Starts a router whose store already holds <paramref name="tables"/>; logging is off unless
    /// <paramref name="shadowingLogging"/> sets it up as the router process does.
    /// </summary>
    public static async Task<RouterHost> StartAsync(
        IEnumerable<RoutingTable> tables,
        IReadOnlyDictionary<string, string?>? settings = null,
        bool storeDownAtStart = false,
        TimeProvider? time = null,
        IStateStore? sharedStore = null,
        Action<IServiceCollection>? services = null,
        bool shadowingLogging = false,
        bool http2Only = false)
    {
        // A shared store stands for several router replicas behind one Dapr state store; it is the caller's to dispose.
        var sqlite = sharedStore is null ? new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System) : null;
        var store = new FlakyStateStore(sharedStore ?? sqlite!);
        var bus = new InProcessEventBus(store, TimeProvider.System, Options.Create(new InProcessEventBusOptions { InitialBackoff = TimeSpan.FromMilliseconds(10) }), NullLogger<InProcessEventBus>.Instance);
        var seed = new RoutingTableStore(store, bus);
        foreach (var table in tables)
        {
            await seed.PutAsync(table);
        }

        store.Failing = storeDownAtStart;
        var configuration = new Dictionary<string, string?>(FastHealthChecks);
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        var app = await LoopbackApp.StartAsync(
            builder =>
            {
                if (shadowingLogging)
                {
                    builder.AddShadowingLogging(); // the router process's logging, defaults and all
                }
                else
                {
                    builder.Logging.AddFilter(_ => false);
                }

                builder.Configuration.AddInMemoryCollection(configuration);
                builder.Services.AddSingleton<IStateStore>(store);
                builder.Services.AddSingleton<IEventBus>(bus);
                if (time is not null)
                {
                    builder.Services.AddSingleton(time);
                }
                services?.Invoke(builder.Services);
                builder.Services.AddShadowingRouter(builder.Configuration);
                // Every scrape fresh (the exporter caches one for 300 ms): a test reads a counter right after what it counts.
                builder.Services.Configure<OpenTelemetry.Exporter.PrometheusAspNetCoreOptions>(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
            },
            app => app.MapShadowingRouter(),
            http2Only: http2Only);
        return new RouterHost(app, sqlite, store, bus);
    }

    public async Task<JsonElement> HealthAsync()
    {
        using var response = await Client.GetAsync(new Uri("/healthz", UriKind.Relative));
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<bool> IsAvailableAsync(string endpointId)
    {
        var health = await HealthAsync();
        return health.GetProperty("endpoints").EnumerateArray().Any(e => e.GetProperty("id").GetString() == endpointId && e.GetProperty("available").GetBoolean());
    }

    /// <summary>What the active probes last said of <paramref name="endpointId"/> (Healthy, Unhealthy, …).</summary>
    public async Task<string?> ProbeStatusAsync(string endpointId) =>
        (await HealthAsync()).GetProperty("endpoints").EnumerateArray().Single(e => e.GetProperty("id").GetString() == endpointId).GetProperty("probe").GetString();

    public async Task<string> MetricsAsync()
    {
        using var response = await Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        return await response.Content.ReadAsStringAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Bus.DisposeAsync();
        _sqlite?.Dispose();
    }
}

/// <summary>Routing tables built from test backends.</summary>
internal static class Table
{
    public static RoutingTable For(
        string service,
        IEnumerable<TestBackend> production,
        IEnumerable<TestBackend>? preWarmed = null,
        TestBackend? fallback = null,
        int maxConcurrency = 100) => new()
    {
        Service = service,
        Production = production.Select(b => new ProductionEndpoint { Id = b.Name, Address = b.Address.ToString(), MaxConcurrency = maxConcurrency }).ToArray(),
        Shadows = (preWarmed ?? []).Select(b => new ShadowEndpoint { Id = b.Name, Address = b.Address.ToString(), State = Core.Shadows.ShadowState.PreWarmed }).ToArray(),
        Default = fallback is null ? null : new DefaultEndpoint { Id = fallback.Name, Address = fallback.Address.ToString() },
    };

    public static async Task<BackendAnswerWithRoute> ReadAsync(HttpResponseMessage response)
    {
        var answer = await response.Content.ReadFromJsonAsync<BackendAnswer>(JsonSerializerOptions.Web);
        return new BackendAnswerWithRoute(
            answer!,
            response.Headers.TryGetValues("x-shadowing-route", out var route) ? route.Single() : null,
            response.StatusCode);
    }
}

internal sealed record BackendAnswerWithRoute(BackendAnswer Answer, string? Route, HttpStatusCode Status);
