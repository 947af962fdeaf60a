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

        // Bring p2 back on the same port: the router must see two successful probes before sending it traffic.
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p2"), "the router marks the killed p2 unavailable", cancellationToken: Ct);
        await p2.RestartAsync();
        await Eventually.WaitUntilAsync(async () => await router.IsAvailableAsync("p2"), "the router sees p2 healthy again", cancellationToken: Ct);
        Assert.True(p2.HealthChecks >= 2, $"p2 came back after {p2.HealthChecks} probe(s); the healthy threshold is 2");

        var before = p2.Requests;
        for (var i = 0; i < 100; i++)
        {
            using var response = await client.GetAsync(new Uri($"/orders/after/{i}", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(p2.Requests - before > 0, "the restarted p2 receives traffic again");
    }
}
