using System.Net;
using Yarp.ReverseProxy.Forwarder;

// The smallest YARP direct-forwarding proxy: every request to --upstream, with the same client settings as the
// router's forwarder and no logging on the request path. Usage: ReferenceProxy --urls URL --upstream URL
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddHttpForwarder();
var app = builder.Build();
var upstream = app.Configuration["upstream"] ?? throw new InvalidOperationException("--upstream is required");
var invoker = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
    EnableMultipleHttp2Connections = true,
    ConnectTimeout = TimeSpan.FromSeconds(2),
    PooledConnectionLifetime = TimeSpan.FromMinutes(2),
    ActivityHeadersPropagator = new ReverseProxyPropagator(System.Diagnostics.DistributedContextPropagator.Current),
});
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(30) };
app.Map("/{**path}", async context => await forwarder.SendAsync(context, upstream, invoker, config, HttpTransformer.Default));
app.Run();
