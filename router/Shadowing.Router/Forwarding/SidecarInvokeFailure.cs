using System.Text.Json;
using Yarp.ReverseProxy.Forwarder;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// daprd's own answer when service invocation cannot reach the app (app down, unhealthy, name not resolved, remote
/// sidecar unreachable): 500, <c>application/json</c>, <c>{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to
/// invoke, id: …, err: …"}</c> (dapr/dapr pkg/api/http/directmessaging.go, messages.ErrDirectInvoke), with no header of
/// its own. The app never saw the request, so for the router it is a connection failure, failed over like one, not an
/// answer to pass on; an app's own 500 is passed through by daprd with the app's body and is relayed untouched.
/// </summary>
internal sealed class SidecarInvokeFailure(string message) : IForwarderErrorFeature
{
    /// <summary>daprd's bodies are a few hundred bytes; a larger or unsized 500 is the app's and is not read.</summary>
    internal const int MaxBodyBytes = 16 * 1024;

    public ForwarderError Error => ForwarderError.Request;

    /// <summary>
    /// As a refused connection would be (<see cref="HttpRequestError.ConnectionError"/>), which ends an ejected
    /// endpoint's panic eligibility; except when daprd's channel to the app broke after sending (no response received),
    /// which the app may have seen.
    /// </summary>
    public Exception Exception { get; } = new HttpRequestException(
        message.Contains("no response received", StringComparison.OrdinalIgnoreCase) ? HttpRequestError.ResponseEnded : HttpRequestError.ConnectionError,
        $"the Dapr sidecar could not reach the app: {message}");

    /// <summary>
    /// The failure when <paramref name="response"/> (a 500 from the sidecar) is daprd's own; else null, the body left
    /// buffered for the client.
    /// </summary>
    public static async ValueTask<SidecarInvokeFailure?> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var content = response.Content;
        if (content.Headers.ContentLength is not (> 0 and <= MaxBodyBytes) || content.Headers.ContentType?.MediaType != "application/json")
        {
            return null;
        }

        // Buffered, so the body is still there for YARP to relay when it is the app's. A read that fails (the app reset
        // mid-body, the client hung up) is left to YARP's body copy, which fails and is classified as it always was.
        byte[] body;
        try
        {
            body = await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            return null;
        }

        return Parse(body) is { } message ? new SidecarInvokeFailure(message) : null;
    }

    /// <summary>daprd's message when <paramref name="body"/> is its <c>ERR_DIRECT_INVOKE</c> error; else null.</summary>
    internal static string? Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            string? code = null, message = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                if (!reader.Read())
                {
                    return null;
                }

                if (reader.TokenType == JsonTokenType.String && name == "errorCode")
                {
                    code = reader.GetString();
                }
                else if (reader.TokenType == JsonTokenType.String && name == "message")
                {
                    message = reader.GetString();
                }
                else
                {
                    return null; // daprd's error has these two fields and nothing else
                }
            }

            // Its two messages (pkg/messages/predefined.go): the invocation failed, or the sidecar's invoke API is still starting.
            return code == "ERR_DIRECT_INVOKE" && message is not null && (message.StartsWith("failed to invoke, id: ", StringComparison.Ordinal) || message == "invoke API is not ready") ? message : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
