using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shadowing.Cli.Up;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Embedded.State;
using Shadowing.Router.Hosting;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Cli.Tests.Up;

/// <summary>
/// What <c>shadowing up</c> runs in one process (router, minute recorder, table refreshes, health probes, the PAE
/// timer): each collaborator of the background loops throws something unexpected in turn, and the router keeps
/// answering while the failure is counted in <c>/metrics</c>.
/// </summary>
public sealed class UpHostResilienceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachBackgroundCollaboratorThrows_RouterKeepsAnswering_AndTheFailureIsCounted()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        var time = new ObservableTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 0, 30, TimeSpan.Zero));
        using var sqlite = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        var store = new FlakyStateStore(sqlite) { Failure = message => new InvalidOperationException("unexpected: " + message) };
        var metrics = Substitute.For<IMetricsSource>();
        metrics.GetAsync(Arg.Any<MetricQuery>(), Arg.Any<CancellationToken>()).Returns<RegularSeries>(_ => throw new InvalidOperationException("metrics source bug"));
        var bus = new ThrowingBus();
        var table = new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "p1", Address = p1.Address.ToString(), MaxConcurrency = 16 }] };

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shadowing:Embedded:StatePath"] = ":memory:",
            ["Router:PollInterval"] = "00:00:10",
            ["Pae:Interval"] = "00:01:00",
        });
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddSingleton<IStateStore>(store);
        builder.Services.AddSingleton<IEventBus>(bus);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddUpHost(builder.Configuration, [table], "the test");
        await using var app = builder.Build();
        app.MapShadowingRouter();
        await app.StartAsync(Ct);
        using var http = new HttpClient { BaseAddress = LoopbackApp.AddressOf(app) };

        // The PAE: its metrics source throws.
        await FailAndStillAnswerAsync(http, time, "pae");

        // The table refresh and the minute recorder: the store throws.
        store.Failing = true;
        await FailAndStillAnswerAsync(http, time, "routing-refresh");
        await FailAndStillAnswerAsync(http, time, "minute-recorder");
        store.Failing = false;

        // The minute recorder again: the store answers now, the bus throws on publish.
        bus.Failing = true;
        var before = await FailuresAsync(http, "minute-recorder");
        await FailAndStillAnswerAsync(http, time, "minute-recorder", before);
        await app.StopAsync(Ct);
    }

    private static async Task FailAndStillAnswerAsync(HttpClient http, ObservableTimeProvider time, string loop, double? from = null)
    {
        var before = from ?? await FailuresAsync(http, loop);
        await Eventually.WaitUntilAsync(
            async () =>
            {
                time.Advance(TimeSpan.FromSeconds(10));
                return await FailuresAsync(http, loop) > before;
            },
            $"the {loop} loop fails and counts it",
            cancellationToken: Ct);

        time.Advance(TimeSpan.FromSeconds(10));
        using var response = await http.GetAsync(new Uri("/orders/still-there", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<double> FailuresAsync(HttpClient http, string loop) =>
        PrometheusText.Value(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct), "shadowing_background_failures_total", ("loop", loop)) ?? 0;

    /// <summary>A bus whose publishes throw something unexpected while <see cref="Failing"/>; subscriptions are accepted and never called.</summary>
    private sealed class ThrowingBus : IEventBus
    {
        public bool Failing { get; set; }

        public Task PublishAsync<T>(string topic, T data, CancellationToken cancellationToken = default) =>
            Failing ? throw new InvalidOperationException("bus bug") : Task.CompletedTask;

        public Task PublishAsync<T>(string topic, T data, TimeSpan timeToLive, CancellationToken cancellationToken = default) =>
            PublishAsync(topic, data, cancellationToken);

        public IDisposable Subscribe<T>(string topic, string subscriber, Func<T, CancellationToken, Task> handler) => Substitute.For<IDisposable>();
    }
}
