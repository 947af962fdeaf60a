using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Network;

namespace Shadowing.Router.Tests.Reliability;

/// <summary>The test utilities' TCP fault proxy in front of a real HTTP server: each fault does what reliability tests rely on.</summary>
public sealed class FaultProxyTests : IAsyncLifetime
{
    private WebApplication _server = null!;
    private int _hits;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _server = await LoopbackApp.StartAsync(null, app => app.MapGet("/", () =>
        {
            Interlocked.Increment(ref _hits);
            return Results.Text("ok");
        }));

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task None_PassesRequestsAndAnswers()
    {
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server));

        Assert.Equal("ok", await GetAsync(proxy));
        Assert.True(proxy.BytesPassed > 0);
        Assert.Equal(1, proxy.Accepted);
    }

    [Fact]
    public async Task Reset_FailsTheRequest_CountsIt_AndRecoversWhenItEnds()
    {
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server));
        proxy.Current = new Fault(FaultKind.Reset);

        await AssertResetAsync(() => GetAsync(proxy));
        Assert.Equal(1, proxy.Resets);
        Assert.Equal(0, _hits);

        proxy.Current = Fault.None;
        Assert.Equal("ok", await GetAsync(proxy));
    }

    [Fact]
    public async Task Reset_OfAnOpenConnection_AtItsNextRequest()
    {
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server));
        using var http = new HttpClient { BaseAddress = proxy.Address };
        Assert.Equal("ok", await http.GetStringAsync(new Uri("/", UriKind.Relative), Ct)); // the connection stays open in the pool
        proxy.Current = new Fault(FaultKind.Reset);

        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync(new Uri("/", UriKind.Relative), Ct));
        Assert.Equal((1, 1L), (_hits, proxy.Accepted)); // it was the open connection, reset mid-use
    }

    [Fact]
    public async Task Latency_HoldsEveryChunkUntilTheClockMoves()
    {
        var time = new FakeTimeProvider();
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server), time);
        proxy.Current = new Fault(FaultKind.Latency, Delay: TimeSpan.FromSeconds(1));

        var request = GetAsync(proxy);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct);
        Assert.False(request.IsCompleted); // held on the way in
        for (var i = 0; i < 100 && !request.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1)); // the request's chunk, then the answer's
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, Ct);
        }

        Assert.Equal("ok", await request);
    }

    [Fact]
    public async Task Bandwidth_HoldsEachChunkForItsSizeAtTheRate()
    {
        var time = new FakeTimeProvider();
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server), time);
        proxy.Current = new Fault(FaultKind.Bandwidth, BytesPerSecond: 10); // a request of ~80 bytes takes seconds

        var request = GetAsync(proxy);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct);
        Assert.False(request.IsCompleted);
        for (var i = 0; i < 200 && !request.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, Ct);
        }

        Assert.Equal("ok", await request);
    }

    [Fact]
    public async Task Blackhole_AcceptsButNeverAnswersNorPassesOn()
    {
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server));
        proxy.Current = new Fault(FaultKind.Blackhole);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => GetAsync(proxy, TimeSpan.FromSeconds(1)));
        Assert.Equal((0, 0L, 1L), (_hits, proxy.BytesPassed, proxy.Accepted));
    }

    [Fact]
    public async Task HalfOpen_PassesTheRequestButNeverTheAnswer()
    {
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server));
        proxy.Current = new Fault(FaultKind.HalfOpen);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => GetAsync(proxy, TimeSpan.FromSeconds(1)));
        Assert.Equal(1, _hits); // the server did the work; the client never heard
    }

    [Fact]
    public async Task Schedule_SwitchesFaultsOnTheClock()
    {
        var time = new FakeTimeProvider();
        await using var proxy = FaultProxy.Start(LoopbackApp.AddressOf(_server), time);
        var schedule = proxy.RunScheduleAsync([(TimeSpan.Zero, new Fault(FaultKind.Reset)), (TimeSpan.FromSeconds(10), Fault.None)], Ct);

        await AssertResetAsync(() => GetAsync(proxy));
        time.Advance(TimeSpan.FromSeconds(10));
        await schedule;

        Assert.Equal("ok", await GetAsync(proxy));
    }

    /// <summary>
    /// A reset surfaces as HttpRequestException, or, when the RST beats the client's look at its freshly connected socket,
    /// as the raw SocketException (HttpClient reads the remote end point unguarded): both are a failed connection.
    /// </summary>
    private static async Task AssertResetAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(call);
        Assert.True(error is HttpRequestException or System.Net.Sockets.SocketException, $"not a connection failure: {error}");
    }

    /// <summary>One request on a new connection (no pooled connection from an earlier fault).</summary>
    private static async Task<string> GetAsync(FaultProxy proxy, TimeSpan? timeout = null)
    {
        using var http = new HttpClient { BaseAddress = proxy.Address, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        return await http.GetStringAsync(new Uri("/", UriKind.Relative), Ct);
    }
}
