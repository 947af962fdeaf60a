using System.Buffers;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// A body captured for a mirrored copy, in pooled arrays taken from the <see cref="MirrorMemory"/> budget, up to a cap:
/// past the cap, or when the budget has no room for the next array, it stops capturing and says so (the copy is then
/// not sent, or its answer not compared). Returned to the pool and the budget by <see cref="Dispose"/>.
/// </summary>
internal sealed class CaptureBuffer : IDisposable
{
    private readonly int _cap;
    private readonly MirrorMemory _memory;
    private byte[] _buffer = [];
    private int _length;

    public CaptureBuffer(int cap, MirrorMemory memory)
    {
        _cap = cap;
        _memory = memory;
        if (cap > 0)
        {
            Grow(Math.Min(cap, 4096));
        }
    }

    /// <summary>More than the cap was seen, or the budget ran out: the capture is incomplete.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>The capture stopped because the mirror's memory budget ran out (not because of the cap).</summary>
    public bool OverBudget { get; private set; }

    /// <summary>The bytes captured.</summary>
    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>Bytes seen, captured or not.</summary>
    public long Seen { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        Seen += data.Length;
        if (Overflowed || data.IsEmpty)
        {
            return;
        }

        if (_length + data.Length > _cap)
        {
            Overflowed = true;
            return;
        }

        if (_length + data.Length > _buffer.Length && !Grow(Math.Min(_cap, Math.Max(_buffer.Length * 2, _length + data.Length))))
        {
            return;
        }

        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    /// <summary>Starts again (a request body read again for a retry).</summary>
    public void Reset()
    {
        _length = 0;
        Seen = 0;
        Overflowed = false;
        OverBudget = false;
    }

    public void Dispose()
    {
        Return();
        _buffer = [];
        _length = 0;
    }

    /// <summary>Moves what was captured into a pooled array of at least <paramref name="size"/> bytes, if the budget has room.</summary>
    private bool Grow(int size)
    {
        // Taken before renting, at the size the shared pool rounds up to, so a refused capture allocates nothing.
        var pooled = Math.Max(16, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)size));
        if (!_memory.TryTake(pooled))
        {
            Overflowed = true;
            OverBudget = true;
            return false;
        }

        var larger = ArrayPool<byte>.Shared.Rent(size);
        _memory.Give(pooled - larger.Length); // what is given back on return is the array's length
        _buffer.AsSpan(0, _length).CopyTo(larger);
        Return();
        _buffer = larger;
        return true;
    }

    private void Return()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _memory.Give(_buffer.Length);
        }
    }
}

/// <summary>Passes a request body through to the forwarder, copying what is read into a <see cref="CaptureBuffer"/>.</summary>
internal sealed class TeeReadStream(Stream inner, CaptureBuffer capture) : Forwarding.ObservedReadStream(inner)
{
    protected override void OnRead(ReadOnlySpan<byte> data) => capture.Append(data);
}

/// <summary>Passes production's response body through to the client, copying what is written into a <see cref="CaptureBuffer"/>.</summary>
internal sealed class TeeWriteStream(Stream inner, CaptureBuffer capture) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count)
    {
        capture.Append(buffer.AsSpan(offset, count));
        inner.Write(buffer, offset, count);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        capture.Append(buffer.Span);
        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}
