using System.Net;
using System.Net.Sockets;

namespace Shadowing.TestUtilities.Network;

/// <summary>What a <see cref="FaultProxy"/> does to the traffic passing through it.</summary>
public enum FaultKind
{
    /// <summary>Passes everything through.</summary>
    None,

    /// <summary>Holds every chunk, in both directions, for <see cref="Fault.Delay"/> before passing it on.</summary>
    Latency,

    /// <summary>Resets new connections on accept and open ones at their next chunk (TCP RST, no FIN).</summary>
    Reset,

    /// <summary>Accepts connections and reads what they send, but never answers nor passes anything on.</summary>
    Blackhole,

    /// <summary>Passes at most <see cref="Fault.BytesPerSecond"/> in each direction of each connection.</summary>
    Bandwidth,

    /// <summary>Passes requests on but never returns the answers: the connection stays open, silent, like a peer that died without closing it.</summary>
    HalfOpen,
}

/// <summary>A fault and its parameters.</summary>
/// <param name="Kind">What the proxy does.</param>
/// <param name="Delay">For <see cref="FaultKind.Latency"/>: how long each chunk is held.</param>
/// <param name="BytesPerSecond">For <see cref="FaultKind.Bandwidth"/>: the rate per direction.</param>
public sealed record Fault(FaultKind Kind, TimeSpan Delay = default, int BytesPerSecond = 0)
{
    /// <summary>No fault.</summary>
    public static Fault None { get; } = new(FaultKind.None);
}

/// <summary>
/// A loopback TCP proxy for reliability tests, placed between a client (the router, an app) and a server (an endpoint, a
/// store, a bus): its <see cref="Current"/> fault applies to new connections and to every chunk of open ones, so a fault
/// can start and end mid-load; <see cref="RunScheduleAsync"/> switches faults on a timeline. Time comes from the injected
/// <see cref="TimeProvider"/>, so with a fake clock a test decides exactly when held bytes move on.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private const int ChunkSize = 16 * 1024;
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private volatile Fault _fault = Fault.None;
    private long _accepted, _resets, _bytes;

    private FaultProxy(IPEndPoint target, TimeProvider time)
    {
        _target = target;
        _time = time;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The port clients connect to (127.0.0.1).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The address clients use: <c>http://127.0.0.1:{Port}</c>.</summary>
    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>The fault applied from now on.</summary>
    public Fault Current
    {
        get => _fault;
        set => _fault = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Connections accepted so far.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Connections reset by the proxy so far.</summary>
    public long Resets => Interlocked.Read(ref _resets);

    /// <summary>Bytes passed on, both directions.</summary>
    public long BytesPassed => Interlocked.Read(ref _bytes);

    /// <summary>Starts a proxy in front of <paramref name="target"/> on an ephemeral loopback port.</summary>
    public static FaultProxy Start(IPEndPoint target, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FaultProxy(target, time ?? TimeProvider.System);
    }

    /// <summary>Starts a proxy in front of <paramref name="target"/> (an http://host:port address).</summary>
    public static FaultProxy Start(Uri target, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        return Start(new IPEndPoint(IPAddress.Parse(target.Host), target.Port), time);
    }

    /// <summary>Applies each fault of <paramref name="schedule"/> at its offset from now, in order; the last one stays.</summary>
    public async Task RunScheduleAsync(IEnumerable<(TimeSpan At, Fault Fault)> schedule, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var start = _time.GetUtcNow();
        foreach (var (at, fault) in schedule.OrderBy(s => s.At))
        {
            var wait = start + at - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }

            Current = fault;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Task[] open;
        lock (_connections)
        {
            open = [.. _connections, _accepting];
        }

        try
        {
            await Task.WhenAll(open).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
        }

        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            var connection = ServeAsync(client);
            lock (_connections)
            {
                _connections.RemoveAll(c => c.IsCompleted);
                _connections.Add(connection);
            }
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        client.NoDelay = true;
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        try
        {
            switch (Current.Kind)
            {
                case FaultKind.Reset:
                    Interlocked.Increment(ref _resets);
                    Abort(client);
                    return;
                case FaultKind.Blackhole:
                    await DrainAsync(client.GetStream(), connection.Token).ConfigureAwait(false);
                    return;
            }

            using var server = new TcpClient { NoDelay = true };
            await server.ConnectAsync(_target, connection.Token).ConfigureAwait(false);
            var up = PumpAsync(client, server, upstream: true, connection);
            var down = PumpAsync(server, client, upstream: false, connection);
            await Task.WhenAny(up, down).ConfigureAwait(false);
            await connection.CancelAsync().ConfigureAwait(false); // one side ended: end the other
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // the client, the server or the proxy went away: the connection is over
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool upstream, CancellationTokenSource connection)
    {
        var buffer = new byte[ChunkSize];
        var source = from.GetStream();
        var target = to.GetStream();
        try
        {
            while (true)
            {
                var read = await source.ReadAsync(buffer, connection.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    to.Client.Shutdown(SocketShutdown.Send); // pass the FIN on
                    return;
                }

                var fault = Current;
                switch (fault.Kind)
                {
                    case FaultKind.Reset:
                        Interlocked.Increment(ref _resets);
                        Abort(from);
                        Abort(to);
                        return;
                    case FaultKind.Blackhole:
                    case FaultKind.HalfOpen when !upstream:
                        continue; // swallowed: the other side waits for ever
                    case FaultKind.Latency:
                        await Task.Delay(fault.Delay, _time, connection.Token).ConfigureAwait(false);
                        break;
                    case FaultKind.Bandwidth when fault.BytesPerSecond > 0:
                        await Task.Delay(TimeSpan.FromSeconds(read / (double)fault.BytesPerSecond), _time, connection.Token).ConfigureAwait(false);
                        break;
                }

                await target.WriteAsync(buffer.AsMemory(0, read), connection.Token).ConfigureAwait(false);
                Interlocked.Add(ref _bytes, read);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
        }
    }

    private static async Task DrainAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[ChunkSize];
        while (await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
    }

    private static void Abort(TcpClient client)
    {
        try
        {
            client.Client.LingerState = new LingerOption(true, 0); // close with RST, not FIN
            client.Client.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }
}
