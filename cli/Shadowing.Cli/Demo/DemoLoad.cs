using System.Diagnostics;
using Shadowing.Core.TimeSeries;

namespace Shadowing.Cli.Demo;

/// <summary>
/// Open-loop client load through the router: every 10 ms of real time it sends the requests the trace asks for in
/// the simulated time that passed (so a slow answer never slows the load down, as with real users), and keeps, per
/// 5-minute simulated step, how many were answered by production, a shadow or the default, how many failed, and their
/// latencies. A failed request is an exception or an answer that is not 2xx.
/// </summary>
internal sealed class DemoLoad : IAsyncDisposable
{
    private const int MaxInFlight = 512;

    /// <summary>The router's answer header naming the kind of endpoint that served (production, shadow, default).</summary>
    private const string RouteHeader = "x-shadowing-route";

    private readonly HttpClient _http;
    private readonly AcceleratedClock _clock;
    private readonly DemoTrace _trace;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxInFlight);
    private readonly Dictionary<DateTimeOffset, StepCounts> _steps = [];
    private readonly Lock _lock = new();
    private Task? _loop;
    private long _sent;
    private long _failed;
    private long _failureMark;
    private long _firstShadowAfterMark;
    private string? _firstFailure;

    public DemoLoad(Uri router, AcceleratedClock clock, DemoTrace trace)
    {
        _clock = clock;
        _trace = trace;
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = MaxInFlight, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = router,
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    /// <summary>Requests sent so far.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Requests that failed so far.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>What the first failed request got, or null.</summary>
    public string? FirstFailure => Volatile.Read(ref _firstFailure);

    /// <summary>Real milliseconds from <see cref="MarkFailure"/> to the first answer a shadow gave after it, or null.</summary>
    public double? FailoverMs => Interlocked.Read(ref _firstShadowAfterMark) is var first && first != 0
        ? Stopwatch.GetElapsedTime(Interlocked.Read(ref _failureMark), first).TotalMilliseconds
        : null;

    /// <summary>Marks the moment production fails; <see cref="FailoverMs"/> counts from here.</summary>
    public void MarkFailure() => Interlocked.Exchange(ref _failureMark, Stopwatch.GetTimestamp());

    public void Start() => _loop = Task.Run(RunAsync);

    /// <summary>The counts of each simulated step so far, in time order.</summary>
    public IReadOnlyList<StepCounts> Snapshot()
    {
        lock (_lock)
        {
            return [.. _steps.Values.OrderBy(s => s.Time).Select(s => s.Copy())];
        }
    }

    /// <summary>Stops sending and waits for the requests in flight.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        for (var i = 0; i < MaxInFlight; i++)
        {
            await _slots.WaitAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
        }

        _http.Dispose();
        _stop.Dispose();
        _slots.Dispose();
    }

    private async Task RunAsync()
    {
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(10), TimeProvider.System);
        var last = _clock.GetUtcNow();
        var owed = 0.0;
        long n = 0;
        try
        {
            while (await tick.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var now = _clock.GetUtcNow();
                owed += _trace.RatePerMinute(now) * (now - last).TotalMinutes;
                last = now;
                for (; owed >= 1; owed--)
                {
                    await _slots.WaitAsync(_stop.Token).ConfigureAwait(false);
                    _ = SendAsync(n++, now);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // stopped
        }
    }

    private async Task SendAsync(long n, DateTimeOffset now)
    {
        Interlocked.Increment(ref _sent);
        var started = Stopwatch.GetTimestamp();
        string? route = null;
        string? failure = null;
        try
        {
            using var response = await _http.GetAsync(new Uri($"/orders/items/{n % 1000}", UriKind.Relative), HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
            route = response.Headers.TryGetValues(RouteHeader, out var values) ? values.FirstOrDefault() : null;
            if (!response.IsSuccessStatusCode)
            {
                failure = $"{(int)response.StatusCode} {response.ReasonPhrase} from {route ?? "the router"}";
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            failure = ex.Message;
        }
        finally
        {
            _slots.Release();
        }

        var latency = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (failure is not null)
        {
            Interlocked.Increment(ref _failed);
            Interlocked.CompareExchange(ref _firstFailure, failure, null);
        }
        else if (route == "shadow" && Interlocked.Read(ref _failureMark) != 0)
        {
            Interlocked.CompareExchange(ref _firstShadowAfterMark, Stopwatch.GetTimestamp(), 0);
        }

        var step = TimeGrid.Floor(now, DemoTrace.Step);
        lock (_lock)
        {
            if (!_steps.TryGetValue(step, out var counts))
            {
                _steps[step] = counts = new StepCounts(step);
            }

            counts.Add(failure is null ? route : null, latency);
        }
    }

    /// <summary>What happened to the requests sent in one 5-minute simulated step.</summary>
    internal sealed class StepCounts(DateTimeOffset time)
    {
        public DateTimeOffset Time { get; } = time;

        public long Production { get; private set; }

        public long Shadow { get; private set; }

        public long Default { get; private set; }

        public long Failed { get; private set; }

        public List<double> Latencies { get; private init; } = [];

        public long Total => Production + Shadow + Default + Failed;

        public void Add(string? route, double latencyMs)
        {
            switch (route)
            {
                case "production": Production++; break;
                case "shadow": Shadow++; break;
                case "default": Default++; break;
                default: Failed++; break;
            }

            Latencies.Add(latencyMs);
        }

        public StepCounts Copy() => new(Time) { Production = Production, Shadow = Shadow, Default = Default, Failed = Failed, Latencies = [.. Latencies] };

        /// <summary>The <paramref name="q"/> quantile of the latencies, ms (0 without any).</summary>
        public double Percentile(double q)
        {
            if (Latencies.Count == 0)
            {
                return 0;
            }

            var sorted = Latencies.Order().ToArray();
            return sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(q * sorted.Length) - 1)];
        }
    }
}
