using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Shadowing.Router.Tests;

/// <summary>HTTP/1.1 exchanges written byte for byte, for probes HttpClient would refuse to send or would normalise.</summary>
internal static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> byte for byte (HttpClient would normalise it) and reads the answer.</summary>
    public static async Task<(int Status, string Head, string Body)> ExchangeAsync(Uri address, string request, CancellationToken ct)
    {
        using var client = await OpenAsync(address, request, ct);
        return await ReadAnswerAsync(client.GetStream(), ct);
    }

    /// <summary>Connects and sends <paramref name="start"/> (for example headers and the first bytes of a body), leaving the connection open.</summary>
    public static async Task<TcpClient> OpenAsync(Uri address, string start, CancellationToken ct)
    {
        var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port, ct);
        await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes(start), ct);
        return client;
    }

    /// <summary>Reads one answer from a connection the router closes after it (the request or the router says so).</summary>
    public static async Task<(int Status, string Head, string Body)> ReadAnswerAsync(Stream stream, CancellationToken ct)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
        var head = new StringBuilder();
        string? line;
        while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(ct)))
        {
            head.AppendLine(line);
        }

        // With a Content-Length, read just that: the router may keep the connection open a while, draining an unread body.
        var length = head.ToString().Split('\n').Select(l => l.Split(':', 2)).FirstOrDefault(p => p.Length == 2 && p[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) is { } header
            ? int.Parse(header[1].Trim(), CultureInfo.InvariantCulture)
            : int.MaxValue;
        var rest = new StringBuilder();
        var buffer = new char[4096];
        try
        {
            int read;
            while (rest.Length < length && (read = await reader.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, length - rest.Length)), ct)) > 0)
            {
                rest.Append(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // Closed with a request body still unread, the router's socket resets: what arrived before is the answer.
        }

        var chunked = head.ToString().Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
        var body = chunked ? Unchunk(rest.ToString()) : rest.ToString();
        var status = head.ToString().Split(' ') is [_, var code, ..] && int.TryParse(code, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
        return (status, head.ToString(), body);
    }

    private static string Unchunk(string chunked)
    {
        var body = new StringBuilder();
        var at = 0;
        while (at < chunked.Length)
        {
            var end = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            if (end < 0)
            {
                break; // cut off
            }

            var size = Math.Min(int.Parse(chunked[at..end], NumberStyles.HexNumber, CultureInfo.InvariantCulture), chunked.Length - end - 2);
            if (size == 0)
            {
                break;
            }

            body.Append(chunked, end + 2, size);
            at = end + 2 + size + 2;
        }

        return body.ToString();
    }
}
