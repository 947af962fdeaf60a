using Shadowing.Router.Mirroring;

namespace Shadowing.Router.Tests.Mirroring;

public sealed class CaptureBufferTests
{
    [Fact]
    public void Growth_TakesFromTheBudget_AndDisposeGivesEverythingBack()
    {
        var memory = new MirrorMemory(1 << 20);
        var data = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();

        using (var capture = new CaptureBuffer(64 * 1024, memory))
        {
            Assert.Equal(4096, memory.Held);
            capture.Append(data.AsSpan(0, 3000));
            capture.Append(data.AsSpan(3000));

            Assert.Equal(data, capture.Written.ToArray());
            Assert.False(capture.Overflowed);
            Assert.Equal(16384, memory.Held); // the array the pool hands out for 10,000 bytes; the 4 KiB one went back
        }

        Assert.Equal(0, memory.Held);
    }

    [Fact]
    public void BudgetWithoutRoomForTheNextArray_StopsTheCapture_WithinTheBudget()
    {
        var memory = new MirrorMemory(10_000);
        using var other = new CaptureBuffer(64 * 1024, memory);
        using var capture = new CaptureBuffer(64 * 1024, memory);
        Assert.Equal(8192, memory.Held);

        capture.Append(new byte[5000]); // needs 8 KiB more while the first 4 KiB are held

        Assert.True(capture.Overflowed);
        Assert.True(capture.OverBudget);
        Assert.Equal(5000, capture.Seen);
        Assert.Equal(8192, memory.Held);

        // A third capture finds no room for its first array at all.
        using var third = new CaptureBuffer(64 * 1024, memory);
        third.Append(new byte[10]);
        Assert.True(third.OverBudget);
        Assert.Equal(8192, memory.Held);
    }

    [Fact]
    public void OverTheCap_IsNotOverBudget()
    {
        var memory = new MirrorMemory(1 << 20);
        using var capture = new CaptureBuffer(100, memory);

        capture.Append(new byte[101]);

        Assert.True(capture.Overflowed);
        Assert.False(capture.OverBudget);
    }
}
