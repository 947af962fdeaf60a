using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Shadowing.Router.Forwarding;

/// <summary>The one outbound HTTP client used for forwarding, configured as YARP recommends for proxies.</summary>
internal sealed class ForwarderClient : IDisposable
{
    public ForwarderClient(IOptions<RouterOptions> options)
    {
        var forwarding = options.Value.Forwarding;
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = forwarding.ConnectTimeout,

            // Bounded so that pooled connections to an endpoint that moved or restarted are replaced.
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
        });
        RequestConfig = new ForwarderRequestConfig { ActivityTimeout = forwarding.ResponseTimeout };
    }

    public HttpMessageInvoker Invoker { get; }

    public ForwarderRequestConfig RequestConfig { get; }

    public void Dispose() => Invoker.Dispose();
}
