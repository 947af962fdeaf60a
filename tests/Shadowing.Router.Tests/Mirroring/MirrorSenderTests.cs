using Shadowing.Core.Mirroring;
using Shadowing.Router.Mirroring;

namespace Shadowing.Router.Tests.Mirroring;

public sealed class MirrorSenderTests
{
    [Fact]
    public void Compare_AnAnswerPastMaxBodyBytes_DiffersWhole_OneCutShortByTheMemoryBudget_IsNotCompared()
    {
        var copy = new CopyRequest(
            "orders", "r1", "GET", "/items", null, string.Empty, [], ReadOnlyMemory<byte>.Empty, DateTimeOffset.UnixEpoch, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            new EndpointAnswer("p1", 200, 1, 2), "{}"u8.ToArray(), FingerprintSalt: null, TimeSpan.FromSeconds(10), MaxBodyBytes: 100, IgnoreFields: []);
        using var tooLong = new CaptureBuffer(100, new MirrorMemory(1 << 20));
        tooLong.Append(new byte[101]);
        using var noRoom = new CaptureBuffer(100, new MirrorMemory(0)); // the budget taken by other captures
        noRoom.Append("{}"u8);

        var (longCompared, longPaths) = MirrorSender.Compare(copy, tooLong, null);
        var (noRoomCompared, noRoomPaths) = MirrorSender.Compare(copy, noRoom, null);

        Assert.Equal((true, "$"), (longCompared, Assert.Single(longPaths)));
        Assert.True(noRoom.OverBudget);
        Assert.Equal((false, 0), (noRoomCompared, noRoomPaths.Count)); // the router's shortage says nothing of the shadow
    }
}
