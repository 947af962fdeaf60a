using Yarp.ReverseProxy.Forwarder;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// YARP's default transforms (headers, X-Forwarded-*), then the destination rewritten to the endpoint plus the
/// path below the service, the <c>dapr-app-id</c> header for Dapr endpoints, and the route headers on the way back.
/// </summary>
internal sealed class ServiceTransformer(bool routeHeaders) : HttpTransformer
{
    public const string RouteHeader = "x-shadowing-route";
    public const string EndpointHeader = "x-shadowing-endpoint";
    private const string DaprAppIdHeader = "dapr-app-id";

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var target = httpContext.Features.Get<ForwardingTarget>()!;
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, target.Path, httpContext.Request.QueryString);

        // Never pass a caller's dapr-app-id on: it would let the caller pick the sidecar's destination.
        proxyRequest.Headers.Remove(DaprAppIdHeader);
        if (target.AppId is { } appId)
        {
            proxyRequest.Headers.TryAddWithoutValidation(DaprAppIdHeader, appId);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var result = await Default.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (routeHeaders && proxyResponse is not null && httpContext.Features.Get<ForwardingTarget>() is { } target)
        {
            httpContext.Response.Headers[RouteHeader] = RouteNames.Of(target.Kind);
            httpContext.Response.Headers[EndpointHeader] = target.Endpoint.Id;
        }

        return result;
    }

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        Default.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);
}
