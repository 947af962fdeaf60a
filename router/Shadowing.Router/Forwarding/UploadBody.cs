using Shadowing.Router.Routing;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// A client's request body while it is still arriving: counted against its service's upload share until it has
/// been read to its end (or the request is over), and cut off once it has taken longer than the upload deadline.
/// Only requests with a body get one, so the body-less requests that make up most traffic allocate nothing here.
/// </summary>
internal sealed class UploadBody(Stream inner, UploadCounter uploads, TimeProvider time, long deadline) : Stream
{
    private int _ended;

    /// <summary>The body was still arriving at the deadline.</summary>
    public bool TimedOut { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Releases the upload slot (once): at the body's end, or when the request is over without reaching it.</summary>
    public void End()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            uploads.End();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Seen(inner.Read(buffer, offset, CheckDeadline(count)), count);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Seen(await inner.ReadAsync(buffer[..CheckDeadline(buffer.Length)], cancellationToken).ConfigureAwait(false), buffer.Length);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    // A steady trickle passes Kestrel's minimum data rate, so each read returns soon enough for this check to run.
    private int CheckDeadline(int count)
    {
        if (_ended == 0 && time.GetTimestamp() > deadline)
        {
            TimedOut = true;
            throw new BadHttpRequestException("The request body took longer than the router's upload deadline.", StatusCodes.Status408RequestTimeout);
        }

        return count;
    }

    private int Seen(int read, int asked)
    {
        // YARP waits for data with zero-byte reads: only a read that asked for bytes and got none is the end.
        if (read == 0 && asked > 0)
        {
            End();
        }

        return read;
    }
}
