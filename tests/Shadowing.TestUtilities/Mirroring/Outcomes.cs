using Shadowing.Core.Mirroring;

namespace Shadowing.TestUtilities.Mirroring;

/// <summary>Mirror outcomes for tests that count or window them: an answered GET of orders' /items, both sides a fast 200.</summary>
public static class Outcomes
{
    /// <summary>The outcome of copy <paramref name="requestId"/> to <paramref name="shadow"/>, received at <paramref name="at"/>.</summary>
    public static MirrorOutcome Answered(string requestId, DateTimeOffset at, string shadow = "s1") => new()
    {
        RequestId = requestId,
        Service = "orders",
        Method = "GET",
        Path = "/items",
        ReceivedAt = at,
        Production = new EndpointAnswer("p1", 200, 1, 10),
        Copy = new EndpointAnswer(shadow, 200, 1, 10),
    };
}
