using Shadowing.Router.Routing;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// A client's request body while it is still arriving: counted against its service's upload share until it has
/// been read to its end (or the request is over), and cut off once it has taken longer than the upload deadline.
/// Only requests with a body get one, so the body-less requests that make up most traffic allocate nothing here.
/// </summary>
internal sealed class UploadBody(Stream inner, UploadCounter uploads, TimeProvider time, long deadline) : ObservedReadStream(inner)
{
    private int _released;

    /// <summary>The body was still arriving at the deadline.</summary>
    public bool TimedOut { get; private set; }

    /// <summary>The timestamp at which the body had been read to its end; 0 before.</summary>
    public long EndedAt { get; private set; }

    /// <summary>Releases the upload slot (once): at the body's end, or when the request is over without reaching it.</summary>
    public void End()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            uploads.End();
        }
    }

    // A steady trickle passes Kestrel's minimum data rate, so each read returns soon enough for this check to run.
    protected override void BeforeRead()
    {
        if (!Ended && time.GetTimestamp() > deadline)
        {
            TimedOut = true;
            throw new BadHttpRequestException("The request body took longer than the router's upload deadline.", StatusCodes.Status408RequestTimeout);
        }
    }

    protected override void OnEnd()
    {
        EndedAt = time.GetTimestamp();
        End();
    }
}
