using System.Collections.Concurrent;
using Dapr.Workflow;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shadowing.Cli.Samples;
using Shadowing.Cli.Up;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Embedded.State;
using Shadowing.Router.Hosting;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;

namespace Shadowing.Cli.Tests.Up;

/// <summary>
/// What <c>shadowing up</c> runs, in this process over a state folder that outlives it (so a test can restart it): the
/// router, the PAE, SEP on the embedded workflow backend, and the local-process provisioner running real sample-endpoint
/// shadows. Records every state a shadow is written in, so tests see each phase, however briefly it lasted.
/// </summary>
internal sealed class SepHost : IAsyncDisposable
{
    private SepHost(WebApplication app, RecordingStore store)
    {
        App = app;
        Store = store;
        Http = new HttpClient { BaseAddress = LoopbackApp.AddressOf(app), Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public RecordingStore Store { get; }

    public HttpClient Http { get; }

    public DaprWorkflowClient Workflows => App.Services.GetRequiredService<DaprWorkflowClient>();

    public RoutingTableStore Tables => App.Services.GetRequiredService<RoutingTableStore>();

    /// <summary>Starts a sample endpoint process (the production of the test's service) and returns it with its address.</summary>
    public static async Task<(ChildProcess Process, Uri Address)> StartProductionAsync(string id, CancellationToken cancellationToken)
    {
        var process = ChildProcess.Start("dotnet", [CliProcess.CliDll, "sample-endpoint", "--service", "orders", "--id", id, "--port", "0", "--latency-ms", "5", "--capacity", "64", "--exit-with-parent"], CliProcess.RepositoryRoot);
        var line = await process.WaitForLineAsync(l => l.StartsWith(SampleEndpointCommand.ReadyLine, StringComparison.Ordinal), TimeSpan.FromSeconds(60), cancellationToken);
        return (process, new Uri(line[SampleEndpointCommand.ReadyLine.Length..].Trim()));
    }

    /// <summary>The local provisioner's command line for an orders shadow: a sample endpoint that exits with its host.</summary>
    public static string[] ShadowArguments { get; } = [CliProcess.CliDll, "sample-endpoint", "--service", "{service}", "--id", "{shadowId}", "--port", "{port}", "--latency-ms", "5", "--capacity", "64", "--exit-with-parent"];

    public static async Task<SepHost> StartAsync(string folder, RoutingTable table, IReadOnlyDictionary<string, string?> settings, IMetricsSource? metrics, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var configuration = new Dictionary<string, string?>
        {
            ["Shadowing:Embedded:StatePath"] = Path.Combine(folder, "state.db"),
            ["Router:PollInterval"] = "00:00:01",
            ["Pae:Interval"] = "01:00:00",
            ["Shadowing:Sep:WarmupCheckInterval"] = "00:00:01",
            ["Shadowing:Sep:DrainTime"] = "00:00:01",
            ["Shadowing:Sep:MirrorPercent"] = "100",
            ["Shadowing:Provisioning:Local:Services:orders:Command"] = "dotnet",
            ["Shadowing:Provisioning:Local:Services:orders:StartTimeout"] = "00:01:00",
        };
        for (var i = 0; i < ShadowArguments.Length; i++)
        {
            configuration[$"Shadowing:Provisioning:Local:Services:orders:Arguments:{i}"] = ShadowArguments[i];
        }

        foreach (var (key, value) in settings)
        {
            configuration[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        var store = new RecordingStore(new SqliteStateStore(Path.Combine(folder, "state.db"), TimeProvider.System));
        builder.Services.AddSingleton<IStateStore>(store);
        if (metrics is not null)
        {
            builder.Services.AddSingleton(metrics);
        }

        builder.Services.AddUpHost(builder.Configuration, [table], "the test");
        var app = builder.Build();
        app.MapShadowingRouter();
        await app.StartAsync(cancellationToken);
        return new SepHost(app, store);
    }

    /// <summary>The orders table with the given production endpoints; mirroring off until SEP turns it on.</summary>
    public static RoutingTable Table(params Uri[] production) => new()
    {
        Service = "orders",
        Production = production.Select((a, i) => new ProductionEndpoint { Id = $"orders-{i + 1}", Address = a.ToString().TrimEnd('/'), MaxConcurrency = 64 }).ToArray(),
        Mirror = new MirrorPolicy { Enabled = false, IgnoreFields = ["endpoint", "served"] },
    };

    /// <summary>A request for <paramref name="count"/> shadows of orders over the hour from <paramref name="start"/>.</summary>
    public static ShadowRequest Request(DateTimeOffset start, string reason, int count = 1) => new()
    {
        Id = ShadowRequest.IdOf("orders", start),
        Service = "orders",
        Count = count,
        WindowStart = start,
        WindowEnd = start.AddHours(1),
        Kinds = [ShadowRequestKind.Demand],
        Reason = reason,
        CreatedAt = start,
        UpdatedAt = start,
    };

    /// <summary>The shadow's state in the stored table, or null.</summary>
    public async Task<ShadowEndpoint?> ShadowAsync(string shadowId) =>
        (await Tables.GetAsync("orders"))?.Value.Shadows.FirstOrDefault(s => s.Id == shadowId);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        Store.Dispose();
    }
}

/// <summary>A state store that records each state of each shadow as routing tables are written.</summary>
internal sealed class RecordingStore(SqliteStateStore inner) : DelegatingStateStore(inner), IDisposable
{
    public ConcurrentQueue<(string Shadow, ShadowState State)> ShadowStates { get; } = new();

    /// <summary>The mirror transport of every routing table written.</summary>
    public ConcurrentQueue<MirrorTransport> MirrorTransports { get; } = new();

    public override async Task SaveAsync(string key, ReadOnlyMemory<byte> value, string? etag, CancellationToken cancellationToken = default)
    {
        await base.SaveAsync(key, value, etag, cancellationToken);
        Record(key, value);
    }

    public override async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        var created = await base.TryCreateAsync(key, value, cancellationToken);
        if (created)
        {
            Record(key, value);
        }

        return created;
    }

    public override async Task TransactAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken = default)
    {
        await base.TransactAsync(operations, cancellationToken);
        foreach (var upsert in operations.OfType<UpsertOperation>())
        {
            Record(upsert.Key, upsert.Value);
        }
    }

    /// <summary>The distinct states <paramref name="shadowId"/> was written in, in order.</summary>
    public IReadOnlyList<ShadowState> StatesOf(string shadowId)
    {
        var states = new List<ShadowState>();
        foreach (var (shadow, state) in ShadowStates)
        {
            if (shadow == shadowId && (states.Count == 0 || states[^1] != state))
            {
                states.Add(state);
            }
        }

        return states;
    }

    public void Dispose() => inner.Dispose();

    private void Record(string key, ReadOnlyMemory<byte> value)
    {
        if (!key.StartsWith(StateKeys.RoutingPrefix, StringComparison.Ordinal))
        {
            return;
        }

        var table = ShadowingJson.Deserialize<RoutingTable>(value.Span);
        if (table.Mirror is { } mirror)
        {
            MirrorTransports.Enqueue(mirror.Transport);
        }

        foreach (var shadow in table.Shadows)
        {
            ShadowStates.Enqueue((shadow.Id, shadow.State));
        }
    }
}
