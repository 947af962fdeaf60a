namespace Shadowing.Router.Forwarding;

/// <summary>
/// When the endpoint's response headers arrived, for the latency the router judges an endpoint by: the whole exchange
/// also holds the time a slow client takes to send its body or read the answer, and a WebSocket's whole session, so one
/// such request would move the latency EWMA past <c>maxLatencyMs</c> and turn production's traffic away. One per request
/// (a request feature, set again by each attempt); the endpoint's transformer marks it.
/// </summary>
internal sealed class ResponseHeadersTime(TimeProvider time)
{
    /// <summary>The timestamp of the headers of the latest attempt; 0 until they arrive.</summary>
    public long At { get; set; }

    public void Mark() => At = time.GetTimestamp();
}
