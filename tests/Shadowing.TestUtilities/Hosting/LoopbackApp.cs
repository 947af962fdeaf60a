using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Shadowing.TestUtilities.Hosting;

/// <summary>Starts small ASP.NET Core apps on an ephemeral (or given) loopback port for tests.</summary>
public static class LoopbackApp
{
    /// <summary>Builds, configures and starts an app listening on 127.0.0.1 (HTTP/1.1, or HTTP/2 without TLS for gRPC).</summary>
    public static async Task<WebApplication> StartAsync(Action<WebApplicationBuilder>? configureBuilder, Action<WebApplication> configureApp, int port = 0, bool http2Only = false)
    {
        ArgumentNullException.ThrowIfNull(configureApp);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = http2Only ? HttpProtocols.Http2 : HttpProtocols.Http1));
        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        configureApp(app);
        await app.StartAsync().ConfigureAwait(false);
        return app;
    }

    /// <summary>The address (<c>http://127.0.0.1:port</c>) an app started by <see cref="StartAsync"/> listens on.</summary>
    public static Uri AddressOf(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
    }
}
