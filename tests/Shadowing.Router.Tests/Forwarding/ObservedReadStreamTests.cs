using Shadowing.Router.Forwarding;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Tests.Forwarding;

/// <summary>The request-body wrappers see the body's end only when a read that asked for bytes got none.</summary>
public sealed class ObservedReadStreamTests
{
    [Fact]
    public async Task ZeroByteReads_AsYarpMakesToWaitForData_AreNotTheEnd()
    {
        using var capture = new CaptureBuffer(1024, new MirrorMemory(1 << 20));
        var uploads = new UploadCounter();
        Assert.True(uploads.TryStart(1));
        await using var tee = new TeeReadStream(new MemoryStream("hello"u8.ToArray()), capture);
        await using var upload = new UploadBody(new MemoryStream("hello"u8.ToArray()), uploads, TimeProvider.System, long.MaxValue);

        Assert.Equal(0, await tee.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken));
        Assert.Equal(0, await upload.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken));
        Assert.False(tee.Ended);
        Assert.Equal(1, uploads.Count); // still uploading

        var buffer = new byte[16];
        while (await tee.ReadAsync(buffer, TestContext.Current.CancellationToken) > 0)
        {
        }

        while (await upload.ReadAsync(buffer, TestContext.Current.CancellationToken) > 0)
        {
        }

        Assert.True(tee.Ended);
        Assert.Equal(0, uploads.Count);
        upload.End(); // the request's end releases nothing twice
        Assert.Equal(0, uploads.Count);
    }
}
