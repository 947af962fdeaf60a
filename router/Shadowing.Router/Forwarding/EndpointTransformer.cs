using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Forwarder;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// How requests to one endpoint of one service are rewritten, built once when the routing snapshot is compiled:
/// YARP's default transforms (headers, X-Forwarded-*), then the destination set to the endpoint's prefix plus the
/// path below the service segment; every <c>dapr-*</c> header a client sent removed (it could pick the sidecar's
/// target or pose as daprd), and a client's own <c>x-shadow-mirror</c> (production must never take a request for a copy), and for a Dapr endpoint the router's own <c>dapr-api-token</c> added; on the way
/// back, the route headers.
/// </summary>
internal sealed class EndpointTransformer(string prefix, int serviceSegmentLength, string? sidecarToken, string? route, string? endpointId) : HttpTransformer
{
    public const string RouteHeader = "x-shadowing-route";
    public const string EndpointHeader = "x-shadowing-endpoint";
    private const string DaprHeaderPrefix = "dapr-";
    private readonly StringValues _route = route;
    private readonly StringValues _endpoint = endpointId;

    /// <summary>The destination prefix of the endpoint (also what YARP is handed).</summary>
    public string Prefix { get; } = prefix;

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var request = httpContext.Request;
        var full = request.Path.Value ?? string.Empty;
        var below = full.Length > serviceSegmentLength ? new PathString(full[serviceSegmentLength..]) : PathString.Empty;
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(Prefix, below, request.QueryString);

        // The non-validated view enumerates without allocating; a list is made only when a client sent headers to strip.
        List<string>? stripped = null;
        foreach (var header in proxyRequest.Headers.NonValidated)
        {
            if (header.Key.StartsWith(DaprHeaderPrefix, StringComparison.OrdinalIgnoreCase)
                || header.Key.Equals(Mirroring.MirrorJob.MirrorHeader, StringComparison.OrdinalIgnoreCase))
            {
                (stripped ??= []).Add(header.Key);
            }
        }

        if (stripped is not null)
        {
            foreach (var name in stripped)
            {
                proxyRequest.Headers.Remove(name);
            }
        }

        if (sidecarToken is not null)
        {
            proxyRequest.Headers.TryAddWithoutValidation(DaprSidecarEndpoint.ApiTokenHeader, sidecarToken);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var result = await Default.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
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
