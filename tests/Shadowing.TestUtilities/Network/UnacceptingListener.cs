using System.Net;
using System.Net.Sockets;

namespace Shadowing.TestUtilities.Network;

/// <summary>
/// A loopback port whose accept queue is full: the kernel drops further SYNs, so a connection to it neither succeeds nor
/// is refused (as to an address nothing answers at: a stopped VM, a firewall that drops packets).
/// </summary>
public sealed class UnacceptingListener : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _queued = [];

    private UnacceptingListener()
    {
    }

    /// <summary><c>http://127.0.0.1:port/</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Listens on an ephemeral port (or <paramref name="port"/>, such as a killed backend's) and fills its queue.</summary>
    public static async Task<UnacceptingListener> StartAsync(int port = 0)
    {
        var listener = new UnacceptingListener();
        listener._listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener._listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener._listener.Listen(1);
        var endpoint = (IPEndPoint)listener._listener.LocalEndPoint!;
        listener.Address = new Uri($"http://127.0.0.1:{endpoint.Port}/");

        // Connect until one does not connect at once: the queue is full from then on.
        for (var i = 0; i < 16; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener._queued.Add(client);
            using var attempt = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                await client.ConnectAsync(endpoint, attempt.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return listener;
            }
        }

        listener.Dispose();
        throw new InvalidOperationException("the accept queue never filled");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var socket in _queued)
        {
            socket.Dispose();
        }

        _listener.Dispose();
    }
}
