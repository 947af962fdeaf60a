using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Dapr.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Shadows;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Pae;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Cli.Tests.Up;

/// <summary>
/// SEP end to end on the embedded host: the PAE's own request (from a forecast over a synthetic demand series) starts a
/// real local-process shadow that is warmed on mirrored traffic, validated, held PreWarmed, takes the traffic when
/// production dies, and is drained and retired on <c>release</c>.
/// </summary>
public sealed class ShadowLifecycleEndToEndTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PaeRequest_ShadowStartsWarmsValidatesTakesOverWhenProductionDies_ReleaseRetiresItAndStopsItsProcess()
    {
        var folder = Directory.CreateTempSubdirectory("sep-e2e-").FullName;
        var (p1, a1) = await SepHost.StartProductionAsync("orders-1", Ct);
        var (p2, a2) = await SepHost.StartProductionAsync("orders-2", Ct);
        await using var host = await SepHost.StartAsync(folder, SepHost.Table(a1, a2), Settings(warmup: "00:00:30", samples: 60), DemandAboveCapacity(), Ct);
        await using var traffic = new Traffic(host.Http);

        // The PAE forecasts demand above production's capacity and requests a shadow; the intake starts its workflow.
        var outcome = Assert.Single(await host.App.Services.GetRequiredService<DemandForecastService>().RunAsync(Ct));
        var request = outcome.Request ?? throw new Xunit.Sdk.XunitException($"the PAE requested no shadow: {outcome.Decision}");
        Assert.Equal(1, request.Count);
        var instance = ShadowLifecycleNames.InstanceId(request);
        var shadowId = ShadowLifecycleNames.ShadowId(request, 1);
        await Eventually.WaitUntilAsync(async () => (await host.ShadowAsync(shadowId))?.State == ShadowState.PreWarmed, $"shadow {shadowId} PreWarmed ({Describe(host, shadowId)})", Patience, Ct);

        var shadow = (await host.ShadowAsync(shadowId))!;
        Assert.Equal(instance, shadow.Owner);
        Assert.Equal(1, CliProcess.CountProcessesMentioning(shadowId));
        Assert.Equal(
            [ShadowState.Provisioning, ShadowState.Syncing, ShadowState.WarmingUp, ShadowState.Validating, ShadowState.PreWarmed],
            host.Store.StatesOf(shadowId));

        // Production dies: the router fails over to the pre-warmed shadow and no request is lost.
        await p1.DisposeAsync();
        await p2.DisposeAsync();
        var answers = await traffic.SendAsync(40);
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Contains(answers, a => a.Endpoint == shadowId);

        // release: drained, retired, its process gone.
        await host.Workflows.RaiseEventAsync(instance, ShadowLifecycleNames.Release, "test", Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Patience);
        var state = await host.Workflows.WaitForWorkflowCompletionAsync(instance, getInputsAndOutputs: true, timeout.Token);
        Assert.Equal(WorkflowRuntimeStatus.Completed, state.RuntimeStatus);
        var result = state.ReadOutputAs<ShadowOutcome>()!;
        Assert.True(result.Served);
        Assert.Equal("released: test", result.Reason);
        Assert.Equal(ShadowState.Retired, (await host.ShadowAsync(shadowId))!.State);
        Assert.Equal([ShadowState.PreWarmed, ShadowState.Draining, ShadowState.Retired], host.Store.StatesOf(shadowId).TakeLast(3));
        Assert.Equal(0, CliProcess.CountProcessesMentioning(shadowId));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task ThinTraffic_WarmupReplaysCopiesAmplified_ThenPutsTheMirrorPolicyBack()
    {
        var folder = Directory.CreateTempSubdirectory("sep-thin-").FullName;
        var (p1, a1) = await SepHost.StartProductionAsync("orders-1", Ct);
        await using var production = p1;

        // About 4 requests a second, all mirrored: 20 s of warm-up would give some 80 answers of the 200 wanted.
        await using var host = await SepHost.StartAsync(folder, SepHost.Table(a1), Settings(warmup: "00:00:20", samples: 200), metrics: null, Ct);
        await using var traffic = new Traffic(host.Http, TimeSpan.FromMilliseconds(250));
        var now = TimeProvider.System.GetUtcNow().AddDays(2); // a window of its own: shadow ids differ from other tests
        var request = SepHost.Request(now, "thin traffic test");
        var shadowId = ShadowLifecycleNames.ShadowId(request, 1);
        await host.App.Services.GetRequiredService<Shadowing.Workflows.Intake.ShadowRequestIntake>().HandleAsync(request, Ct);
        await Eventually.WaitUntilAsync(async () => (await host.ShadowAsync(shadowId))?.State == ShadowState.PreWarmed, $"shadow {shadowId} PreWarmed ({Describe(host, shadowId)})", Patience, Ct);

        Assert.Contains(Core.Mirroring.MirrorTransport.PubSub, host.Store.MirrorTransports);

        // The activity that marks the shadow PreWarmed puts the policy back right after, in a second write of the table.
        await Eventually.WaitUntilAsync(async () => (await host.Tables.GetAsync("orders", Ct))!.Value.Mirror!.Transport == Core.Mirroring.MirrorTransport.Direct, "the mirror policy put back to direct", Patience, Ct);
        var verdict = await host.App.Services.GetRequiredService<Core.Validation.ShadowValidator>().LatestAsync("orders", shadowId, Ct);
        Assert.Equal(Core.Validation.Verdict.Pass, verdict!.Verdict);
    }

    internal static Dictionary<string, string?> Settings(string warmup, int samples) => new()
    {
        ["Shadowing:Sep:WarmupTime"] = warmup,
        ["Shadowing:Sep:WarmupSamples"] = samples.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Pae:EndpointCapacity:orders"] = "20",
        ["Pae:HolidayCountry"] = string.Empty,
        ["Pae:Planner:LeadTime"] = "02:00:00", // the whole horizon: shadows for any peak the forecast sees
    };

    /// <summary>
    /// Eight days of steady demand (3 % noise, no daily cycle, so the forecast does not depend on the hour the test runs)
    /// at 230 requests per 5 min: with 10 % headroom more than two endpoints of 20 a minute (200) carry, less than three.
    /// </summary>
    private static IMetricsSource DemandAboveCapacity()
    {
        var step = TimeSpan.FromMinutes(5);
        var end = TimeProvider.System.GetUtcNow();
        var start = end - TimeSpan.FromDays(8);
        var count = (int)(TimeSpan.FromDays(8) / step);
        var random = Core.Randomness.RandomSource.Seeded(7);
        var demand = new RegularSeries(start, step, Enumerable.Range(0, count).Select(_ => 230 * (1 + (0.03 * ((2 * random.NextDouble()) - 1)))).ToArray());
        var flat = new RegularSeries(start, step, Enumerable.Repeat(1.0, count).ToArray());
        var metrics = Substitute.For<IMetricsSource>();
        metrics.GetAsync(Arg.Any<MetricQuery>(), Arg.Any<CancellationToken>()).Returns(c => c.Arg<MetricQuery>().Kind == MetricKind.Requests ? demand : flat);
        return metrics;
    }

    internal static string Describe(SepHost host, string shadowId) => "states so far: " + string.Join(" → ", host.Store.StatesOf(shadowId));

    /// <summary>
    /// Steady GETs through the router for the whole test, so there is traffic to mirror; what they got is counted for
    /// tests that assert on it (<see cref="Served"/>, <see cref="Failures"/>).
    /// </summary>
    internal sealed class Traffic : IAsyncDisposable
    {
        private readonly HttpClient _http;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private long _served;

        public Traffic(HttpClient http, TimeSpan? every = null)
        {
            var pause = every ?? TimeSpan.FromMilliseconds(20);
            _http = http;
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        var (status, _) = (await SendAsync(1))[0];
                        if (status == HttpStatusCode.OK)
                        {
                            Interlocked.Increment(ref _served);
                        }
                        else
                        {
                            Failures.Enqueue($"HTTP {(int)status}");
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                    {
                        if (!_stop.IsCancellationRequested)
                        {
                            Failures.Enqueue(ex.Message);
                        }
                    }

                    await Task.Delay(pause, TimeProvider.System, CancellationToken.None);
                }
            });
        }

        /// <summary>Requests of the loop answered 200.</summary>
        public long Served => Interlocked.Read(ref _served);

        /// <summary>Requests of the loop that failed or were not answered 200.</summary>
        public ConcurrentQueue<string> Failures { get; } = new();

        public async Task<IReadOnlyList<(HttpStatusCode Status, string? Endpoint)>> SendAsync(int count)
        {
            var answers = new List<(HttpStatusCode, string?)>();
            for (var i = 0; i < count; i++)
            {
                using var response = await _http.GetAsync(new Uri($"/orders/items/{i}", UriKind.Relative), _stop.Token);
                var body = await response.Content.ReadAsStringAsync(_stop.Token);
                string? endpoint = null;
                if (response.IsSuccessStatusCode)
                {
                    using var json = JsonDocument.Parse(body);
                    endpoint = json.RootElement.TryGetProperty("endpoint", out var e) ? e.GetString() : null;
                }

                answers.Add((response.StatusCode, endpoint));
            }

            return answers;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }
}
