using System.Collections.Concurrent;
using System.Net;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Forwarding;

/// <summary>
/// Must show: 2,000 GETs at concurrency 16 while one of two production endpoints is killed mid-run, with a
/// PreWarmed shadow: no client request fails; the killed endpoint, restarted, gets traffic again once it has
/// passed its healthy threshold.
/// </summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class FailoverUnderLoadTests
{
    private const int Total = 2000;
    private const int Concurrency = 16;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KillOneProductionEndpointUnderLoad_NoClientRequestFails_AndItReturnsAfterHealthyThreshold()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var shadow = await TestBackend.StartAsync("shadow");
        foreach (var backend in new[] { p1, p2, shadow })
        {
            backend.Delay = TimeSpan.FromMilliseconds(2); // so that requests are in flight when p2 dies
        }

        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1, p2], [shadow])]);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency }) { BaseAddress = router.Address };
        var failures = new ConcurrentQueue<string>();
        var servedBy = new ConcurrentDictionary<string, int>();
        var sent = 0;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killAt = Total / 4;

        async Task Worker()
        {
            while (Interlocked.Increment(ref sent) is var n && n <= Total)
            {
                if (n == killAt)
                {
                    _ = p2.KillAsync().ContinueWith(_ => killed.SetResult(), TaskScheduler.Default);
                }

                try
                {
                    using var response = await client.GetAsync(new Uri($"/orders/items/{n}", UriKind.Relative), Ct);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        failures.Enqueue($"#{n}: HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
                        continue;
                    }

                    var answer = await Table.ReadAsync(response);
                    if (answer.Answer.Path != $"/items/{n}")
                    {
                        failures.Enqueue($"#{n}: wrong answer {answer.Answer.Path}");
                    }

                    servedBy.AddOrUpdate(answer.Answer.Endpoint, 1, (_, c) => c + 1);
                }
                catch (HttpRequestException ex)
                {
                    failures.Enqueue($"#{n}: {ex.Message}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(Worker, Ct)));
        await killed.Task.WaitAsync(Eventually.DefaultTimeout, Ct);

        Assert.Empty(failures);
        Assert.Equal(Total, servedBy.Values.Sum());
        Assert.True(servedBy.GetValueOrDefault("p2") > 0, "p2 served traffic before it was killed");
        var failovers = PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("reason", "failover"));
        Assert.True(failovers >= 1, "requests caught by the kill were retried on the next choice");
        TestContext.Current.SendDiagnosticMessage($"served by: {string.Join(", ", servedBy.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))}; failovers: {failovers}");

        // Bring p2 back on the same port once probes (not only outlier ejection, which expires by itself) call it
        // unhealthy. From then on it may take traffic only after HealthyThreshold (2) good probes: keep traffic
        // flowing through the restart and look at how many probes p2 had answered when each request reached it.
        await Eventually.WaitUntilAsync(async () => await router.ProbeStatusAsync("p2") == "Unhealthy", "probes mark the killed p2 unhealthy", cancellationToken: Ct);
        var servedBefore = p2.HealthChecksWhenServed.Count;
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.GetAsync(new Uri($"/orders/after/{i++}", UriKind.Relative), Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }, Ct);
        var checksAtRestart = p2.HealthChecks;
        await p2.RestartAsync();
        await Eventually.WaitUntilAsync(() => p2.HealthChecksWhenServed.Count - servedBefore >= 20, "the restarted p2 serves traffic again", cancellationToken: Ct);
        await stop.CancelAsync();
        await traffic;

        var probesBeforeFirstRequest = p2.HealthChecksWhenServed.Skip(servedBefore).Min() - checksAtRestart;
        Assert.True(probesBeforeFirstRequest >= 2, $"the restarted p2 got traffic after {probesBeforeFirstRequest} good probe(s); the healthy threshold is 2");
    }
}
