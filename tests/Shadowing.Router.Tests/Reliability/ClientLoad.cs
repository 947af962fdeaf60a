using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>Client load for the reliability tests: a fixed number of GETs over a few connections, and steady traffic until stopped.</summary>
internal static class ClientLoad
{
    /// <summary>
    /// Sends <paramref name="total"/> GETs of <c>/{service}/items/{n}</c> from <paramref name="concurrency"/> workers;
    /// <paramref name="beforeEach"/> runs before request n is sent (where a test injects its fault). A request fails when
    /// it throws, is not a 200, or <paramref name="check"/> gives a reason.
    /// </summary>
    public static async Task<(IReadOnlyCollection<string> Failures, TimeSpan Elapsed)> RunAsync(
        HttpClient client,
        string service,
        int total,
        int concurrency,
        Action<int> beforeEach,
        Func<HttpResponseMessage, Task<string?>>? check = null,
        CancellationToken cancellationToken = default)
    {
        var failures = new ConcurrentQueue<string>();
        var sent = 0;

        async Task Worker()
        {
            while (Interlocked.Increment(ref sent) is var n && n <= total)
            {
                beforeEach(n);
                try
                {
                    using var response = await client.GetAsync(new Uri($"/{service}/items/{n}", UriKind.Relative), cancellationToken);
                    var reason = response.StatusCode != HttpStatusCode.OK ? $"HTTP {(int)response.StatusCode}" : check is null ? null : await check(response);
                    if (reason is not null)
                    {
                        failures.Enqueue($"#{n}: {reason}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    failures.Enqueue($"#{n}: {ex.Message}");
                }
            }
        }

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker, cancellationToken)));
        return (failures, clock.Elapsed);
    }

    /// <summary>Sends GETs of <c>/{service}/after/{n}</c> one after another until disposed, which fails if any of them failed.</summary>
    public static Steady Start(HttpClient client, string service, CancellationToken cancellationToken = default) => new(client, service, cancellationToken);

    /// <summary>Steady traffic; disposing stops it and throws if a request failed.</summary>
    internal sealed class Steady : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _traffic;

        public Steady(HttpClient client, string service, CancellationToken cancellationToken) =>
            _traffic = Task.Run(
                async () =>
                {
                    var i = 0;
                    while (!_stop.IsCancellationRequested)
                    {
                        using var response = await client.GetAsync(new Uri($"/{service}/after/{i++}", UriKind.Relative), cancellationToken);
                        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    }
                },
                cancellationToken);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _traffic;
            }
            finally
            {
                _stop.Dispose();
            }
        }
    }
}
