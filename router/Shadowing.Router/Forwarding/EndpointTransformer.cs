using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Forwarder;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// How requests to one endpoint of one service are rewritten, built once when the routing snapshot is compiled:
/// YARP's default transforms (headers, X-Forwarded-*), then the destination set to the endpoint's prefix plus the
/// path below the service segment; every <c>dapr-*</c> header a client sent removed (it could pick the sidecar's
/// target or pose as daprd), and a client's own <c>x-shadowing-*</c> and <c>x-shadow-mirror</c> (headers of the router's
/// own: production must never take a request for a copy), and the headers the client named in <c>Connection</c>; for a
/// Dapr endpoint the router's own <c>dapr-api-token</c> added; on the way back, the route headers, and for a Dapr
/// endpoint daprd's own failure to reach the app told apart from an answer (<see cref="SidecarInvokeFailure"/>), and the
/// headers the endpoint named in <c>Connection</c> removed.
/// </summary>
internal sealed class EndpointTransformer(string prefix, int serviceSegmentLength, string? sidecarToken, string? route, string? endpointId, bool rawEncodedSlashes = false, bool throughSidecar = false) : HttpTransformer
{
    public const string RouteHeader = "x-shadowing-route";
    public const string EndpointHeader = "x-shadowing-endpoint";
    private const string DaprHeaderPrefix = "dapr-";
    private const string ShadowingHeaderPrefix = "x-shadowing-";
    private readonly StringValues _route = route;
    private readonly StringValues _endpoint = endpointId;

    /// <summary>The destination prefix of the endpoint (also what YARP is handed).</summary>
    public string Prefix { get; } = prefix;

    /// <summary>
    /// Where a request for <paramref name="below"/> goes at this endpoint: the client's raw path (<paramref name="rawBelow"/>,
    /// see <see cref="RawBelow"/>) where this endpoint takes encoded slashes as they came, else the path encoded by YARP.
    /// Production's forward and the mirror's copies both go this way, so a copy reaches a shadow as the original reached production.
    /// </summary>
    internal Uri Destination(PathString below, QueryString query, string? rawBelow) =>
        rawEncodedSlashes && rawBelow is not null
            ? new Uri(Prefix.TrimEnd('/') + rawBelow + query.Value, UriKind.Absolute)
            : RequestUtilities.MakeDestinationAddress(Prefix, below, query);

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var request = httpContext.Request;
        var full = request.Path.Value ?? string.Empty;
        var below = full.Length > serviceSegmentLength ? new PathString(full[serviceSegmentLength..]) : PathString.Empty;
        proxyRequest.RequestUri = Destination(below, request.QueryString, rawEncodedSlashes && below.Value is { } belowPath && belowPath.Contains('%', StringComparison.Ordinal) ? RawBelow(httpContext, belowPath) : null);

        // The non-validated view enumerates without allocating; a list is made only when a client sent headers to strip.
        List<string>? stripped = null;
        foreach (var header in proxyRequest.Headers.NonValidated)
        {
            if (header.Key.StartsWith(DaprHeaderPrefix, StringComparison.OrdinalIgnoreCase)
                || header.Key.StartsWith(ShadowingHeaderPrefix, StringComparison.OrdinalIgnoreCase)
                || header.Key.Equals(Mirroring.MirrorJob.MirrorHeader, StringComparison.OrdinalIgnoreCase))
            {
                (stripped ??= []).Add(header.Key);
            }
        }

        // RFC 9110 §7.6.1: headers the client named in Connection are for this hop only (YARP drops Connection itself
        // and the standard hop-by-hop headers, not the ones it names).
        foreach (var value in request.Headers.Connection)
        {
            var tokens = (value ?? string.Empty).AsSpan();
            foreach (var range in tokens.Split(','))
            {
                var token = tokens[range].Trim();
                // Headers the router itself sets (X-Forwarded-*, Forwarded, Host) are never the client's to remove:
                // naming them in Connection would strip the router's own values (as in CVE-2024-45410).
                if (!token.IsEmpty && !token.Equals("close", StringComparison.OrdinalIgnoreCase) && !token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) && !token.Equals("upgrade", StringComparison.OrdinalIgnoreCase)
                    && !token.StartsWith("x-forwarded-", StringComparison.OrdinalIgnoreCase) && !token.Equals("forwarded", StringComparison.OrdinalIgnoreCase) && !token.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    (stripped ??= []).Add(token.ToString());
                }
            }
        }

        if (stripped is not null)
        {
            foreach (var name in stripped)
            {
                proxyRequest.Headers.Remove(name);
                proxyRequest.Content?.Headers.Remove(name);
            }
        }

        if (sidecarToken is not null)
        {
            proxyRequest.Headers.TryAddWithoutValidation(DaprSidecarEndpoint.ApiTokenHeader, sidecarToken);
        }
    }

    /// <summary>
    /// Kestrel decodes a path except <c>%2F</c>, so <c>a%2Fb</c> and <c>a%252Fb</c> both reach the router as
    /// <c>a%2Fb</c>, and re-encoding gives <c>a%252Fb</c> for both (dotnet/yarp#1419): two client paths would become one.
    /// Only the raw request target tells them apart. It is used, below the service segment, when it decodes (all but its
    /// <c>%2F</c>s) to exactly the path Kestrel routed, so nothing Kestrel normalised (dot segments, encoded dots) can
    /// pass raw. Not for Dapr endpoints: the sidecar's invoke API is not given encoded slashes to interpret.
    /// </summary>
    internal static string? RawBelow(HttpContext context, string pathBelow)
    {
        var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(target) || target[0] != '/')
        {
            return null;
        }

        var query = target.IndexOf('?', StringComparison.Ordinal);
        var path = query >= 0 ? target[..query] : target;
        var segment = path.IndexOf('/', 1);
        if (segment < 0)
        {
            return null;
        }

        var raw = path[segment..];
        if (raw.Contains('\\', StringComparison.Ordinal))
        {
            return null; // Uri reads a backslash as '/' in an http URL, then removes dot segments: x%2Fy\..\..\admin would climb out
        }

        try
        {
            // A segment between slashes or encoded slashes that decodes to '.' or '..' would climb out of the endpoint's
            // base path at any server that decodes %2F before normalising: such a path goes the encoded way.
            foreach (var part in MarkEncodedSlashes(raw).Split(['/', '\0']))
            {
                if (Uri.UnescapeDataString(part) is "." or "..")
                {
                    return null;
                }
            }

            return string.Equals(Uri.UnescapeDataString(MarkEncodedSlashes(raw)), MarkEncodedSlashes(pathBelow), StringComparison.Ordinal) ? raw : null;
        }
        catch (UriFormatException)
        {
            return null;
        }
    }

    /// <summary>Replaces every <c>%2F</c> (either case) with a character no decoded path has, so it survives unescaping.</summary>
    private static string MarkEncodedSlashes(string path) =>
        path.Replace("%2F", "\0", StringComparison.OrdinalIgnoreCase);

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        httpContext.Features.Get<ResponseHeadersTime>()?.Mark();
        if (throughSidecar && proxyResponse is { StatusCode: System.Net.HttpStatusCode.InternalServerError }
            && await SidecarInvokeFailure.ReadAsync(proxyResponse, cancellationToken).ConfigureAwait(false) is { } failure)
        {
            // Nothing of daprd's error reaches the client: the request failed before the app, as a refused connection does.
            httpContext.Features.Set<Yarp.ReverseProxy.Forwarder.IForwarderErrorFeature>(failure);
            return false;
        }

        var result = await Default.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);

        // RFC 9110 §7.6.1 for the answer: headers the endpoint named in Connection are for the hop to the router only. The
        // non-validated lookup allocates nothing when, as usual, there is no Connection header.
        if (proxyResponse is not null && proxyResponse.Headers.NonValidated.TryGetValues("Connection", out var connection))
        {
            foreach (var value in connection)
            {
                var tokens = value.AsSpan();
                foreach (var range in tokens.Split(','))
                {
                    var token = tokens[range].Trim();
                    if (!token.IsEmpty && !token.Equals("close", StringComparison.OrdinalIgnoreCase) && !token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) && !token.Equals("upgrade", StringComparison.OrdinalIgnoreCase))
                    {
                        httpContext.Response.Headers.Remove(token.ToString());
                    }
                }
            }
        }

        if (route is not null && proxyResponse is not null)
        {
            httpContext.Response.Headers[RouteHeader] = _route;
            httpContext.Response.Headers[EndpointHeader] = _endpoint;
        }

        return result;
    }

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        Default.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);
}
