namespace Shadowing.Router.Forwarding;

/// <summary>
/// A request body passed through to the forwarder unchanged, with hooks before each read, on the bytes read and at the
/// body's end. YARP waits for data with zero-byte reads, so only a read that asked for bytes and got none is the end.
/// </summary>
internal abstract class ObservedReadStream(Stream inner) : Stream
{
    /// <summary>The body was read to its end.</summary>
    public bool Ended { get; private set; }

    /// <summary>Some of the body has been read (a zero-byte read, YARP's wait for data, takes nothing).</summary>
    public bool Started { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        BeforeRead();
        return Seen(inner.Read(buffer, offset, count), buffer.AsSpan(offset, count));
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        BeforeRead();
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Seen(read, buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Called before every read.</summary>
    protected virtual void BeforeRead()
    {
    }

    /// <summary>Called with the bytes of every read that returned some.</summary>
    protected virtual void OnRead(ReadOnlySpan<byte> data)
    {
    }

    /// <summary>Called once, when the body has been read to its end.</summary>
    protected virtual void OnEnd()
    {
    }

    private int Seen(int read, ReadOnlySpan<byte> buffer)
    {
        if (read > 0)
        {
            Started = true;
            OnRead(buffer[..read]);
        }
        else if (!buffer.IsEmpty && !Ended)
        {
            Ended = true;
            OnEnd();
        }

        return read;
    }
}
