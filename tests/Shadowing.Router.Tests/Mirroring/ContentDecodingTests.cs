using System.IO.Compression;
using System.Text;
using Shadowing.Router.Mirroring;

namespace Shadowing.Router.Tests.Mirroring;

public sealed class ContentDecodingTests
{
    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void Decode_UndoesTheCoding(string coding)
    {
        var json = Encoding.UTF8.GetBytes("""{"id":1,"name":"widget"}""");

        var decoded = ContentDecoding.Decode(Encode(json, coding), coding, 1024);

        Assert.Equal(json, decoded!.Value.ToArray());
    }

    [Fact]
    public void Decode_NoCodingOrIdentity_IsTheBodyItself()
    {
        var body = "plain"u8.ToArray();

        Assert.Equal(body, ContentDecoding.Decode(body, null, 1)!.Value.ToArray());
        Assert.Equal(body, ContentDecoding.Decode(body, " identity ", 1)!.Value.ToArray());
    }

    [Fact]
    public void Decode_WhatCannotBeCompared_IsNull()
    {
        var bomb = Encode(new byte[1_000_000], "gzip"); // about a kilobyte that expands to a megabyte

        Assert.True(bomb.Length < 2_000);
        Assert.Null(ContentDecoding.Decode(bomb, "gzip", 65_536));
        Assert.Null(ContentDecoding.Decode("not gzip at all"u8.ToArray(), "gzip", 65_536));
        Assert.Null(ContentDecoding.Decode("not brotli at all, not at all"u8.ToArray(), "br", 65_536));
        Assert.Null(ContentDecoding.Decode("x"u8.ToArray(), "zstd", 65_536));
        Assert.Null(ContentDecoding.Decode("x"u8.ToArray(), "gzip, br", 65_536));
    }

    private static byte[] Encode(byte[] data, string coding)
    {
        using var output = new MemoryStream();
        using (Stream encoder = coding switch
        {
            "gzip" => new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true),
            "deflate" => new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true),
            _ => new BrotliStream(output, CompressionLevel.Optimal, leaveOpen: true),
        })
        {
            encoder.Write(data);
        }

        return output.ToArray();
    }
}
