using System.IO.Compression;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// Undoes a response's <c>Content-Encoding</c> so two answers are compared by what they say, not by how they were
/// compressed: a gzip JSON answer with one differing timestamp differs at that field, not as a whole body, and a shadow
/// compressing at another level is not a difference at all.
/// </summary>
internal static class ContentDecoding
{
    /// <summary>Whether <see cref="Decode"/> knows the coding (none, identity, gzip, deflate or br, not stacked).</summary>
    public static bool CanDecode(string? contentEncoding) =>
        contentEncoding?.Trim().ToLowerInvariant() is null or "" or "identity" or "gzip" or "x-gzip" or "deflate" or "br";

    /// <summary>
    /// The body without its content coding; the body itself when it has none. Null when it cannot be compared: an
    /// unknown or stacked coding, a corrupt stream, or more than <paramref name="maxBytes"/> once decoded (the same cap
    /// the captured bodies have, so a small compressed body cannot expand without bound).
    /// </summary>
    public static ReadOnlyMemory<byte>? Decode(ReadOnlyMemory<byte> body, string? contentEncoding, int maxBytes)
    {
        var coding = contentEncoding?.Trim();
        if (string.IsNullOrEmpty(coding) || coding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return body;
        }

        if (body.IsEmpty)
        {
            return body;
        }

        using var source = new MemoryStream(body.ToArray(), writable: false);
        Stream? decoder = coding.ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => new GZipStream(source, CompressionMode.Decompress),
            "deflate" => new ZLibStream(source, CompressionMode.Decompress),
            "br" => new BrotliStream(source, CompressionMode.Decompress),
            _ => null,
        };
        if (decoder is null)
        {
            return null;
        }

        using (decoder)
        {
            try
            {
                using var decoded = new MemoryStream();
                var buffer = new byte[8192];
                int read;
                while ((read = decoder.Read(buffer, 0, buffer.Length)) > 0)
                {
                    if (decoded.Length + read > maxBytes)
                    {
                        return null;
                    }

                    decoded.Write(buffer, 0, read);
                }

                return decoded.ToArray();
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException or IOException)
            {
                return null; // a corrupt stream (BrotliStream says so with InvalidOperationException)
            }
        }
    }
}
