using System.Net;
using System.Net.Sockets;

namespace Shadowing.TestUtilities.Network;

/// <summary>
/// A loopback port bound but never listening, for as long as this lives: a connection to it is refused (RST), as to an
/// app that is down. A port only looked up and freed again is not safe for that: the kernel may hand it to another test's
/// listener, or as the local port of the very connection made to it (TCP's self-connect), which then succeeds.
/// </summary>
public sealed class RefusingPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public RefusingPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_socket.LocalEndPoint!).Port}/");
    }

    /// <summary><c>http://127.0.0.1:port/</c>.</summary>
    public Uri Address { get; }

    /// <inheritdoc/>
    public void Dispose() => _socket.Dispose();
}
