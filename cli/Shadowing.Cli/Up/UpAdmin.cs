using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Shadowing.Cli.Ui;
using Shadowing.Control;
using Shadowing.Router.Hosting;

namespace Shadowing.Cli.Up;

/// <summary>
/// The embedded host's admin port: the control API (and daprd's workflow routes) on a listener of its own, never the
/// router's data-plane port, so no service name can collide with <c>/api</c> and nothing on the data plane can start
/// shadows or stop workflows. Loopback only: it has no authentication.
/// </summary>
internal static partial class UpAdmin
{
    /// <summary>Where the admin API listens unless configured (<c>Shadowing:Admin:Urls</c> or <c>--admin-urls</c>).</summary>
    public const string DefaultUrls = "http://127.0.0.1:5081";

    /// <summary>The configuration key of the admin URLs.</summary>
    public const string UrlsKey = "Shadowing:Admin:Urls";

    /// <summary>Why <paramref name="urls"/> cannot be the admin listener, or null.</summary>
    public static string? UrlsProblem(string urls)
    {
        if (UpCommand.UrlsProblem(urls) is { } problem)
        {
            return problem;
        }

        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var host = new Uri(url).Host;
            if (!(host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address))))
            {
                return $"'{url}' is not a loopback address: the admin API can start shadows and stop workflows and has no authentication, so it listens on 127.0.0.1, [::1] or localhost only.";
            }
        }

        return null;
    }

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    /// <summary>Starts the admin listener on <paramref name="urls"/>, serving the <see cref="ControlApi"/> of <paramref name="main"/>.</summary>
    public static async Task<WebApplication> StartAsync(IServiceProvider main, string urls, CancellationToken cancellationToken)
    {
        var builder = Shadowing.Embedded.Workflows.InternalWebApplication.CreateBuilder();
        // up's own host owns Ctrl+C: a second console lifetime would take the signal for itself, and up would not stop.
        builder.Services.AddSingleton<IHostLifetime, StoppedWithUp>();
        builder.WebHost.UseUrls(urls);
        builder.Services.AddSingleton(main.GetRequiredService<ControlApi>());
        var logger = main.GetRequiredService<ILoggerFactory>().CreateLogger("Shadowing.Cli.Up.Admin");
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            // Loopback is not enough against a browser: a page can POST to 127.0.0.1 (CSRF) or rebind its own name to it
            // (DNS rebinding) and read the answers. Only loopback Host names, and no cross-site Origin, are served.
            // The caller's address too, whatever the listener was bound to.
            if (context.Connection.RemoteIpAddress is not { } caller || !IPAddress.IsLoopback(caller)
                || !IsLoopbackName(context.Request.Host.Host) || (context.Request.Headers.Origin.ToString() is { Length: > 0 } origin && !(Uri.TryCreate(origin, UriKind.Absolute, out var from) && IsLoopbackName(from.Host))))
            {
                await new ControlResult(StatusCodes.Status403Forbidden, new ControlProblem("Forbidden", 403, "The admin API answers only loopback callers, addressing a loopback name, without a cross-site Origin.")).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (BadHttpRequestException bad) when (!context.Response.HasStarted)
            {
                // Kestrel's verdict on the request itself (a body over its limit, broken chunking): 413 or 400, not a 500.
                await new ControlResult(bad.StatusCode, new ControlProblem("Bad request", bad.StatusCode, bad.Message)).ExecuteAsync(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                LogFailed(logger, ex, context.Request.Method, context.Request.Path);
                await new ControlResult(StatusCodes.Status500InternalServerError, new ControlProblem("Internal error", 500, ex.Message)).ExecuteAsync(context).ConfigureAwait(false);
            }
        });
        app.MapShadowingControl(daprWorkflowRoutes: true);
        app.MapShadowingRouterHealth("/api/health", main); // the dashboard shows endpoints without health where there is no router
        app.MapDashboard();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>The first address the admin listener took (with the real port when 0 was asked for).</summary>
    public static string AddressOf(WebApplication admin) =>
        admin.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');

    /// <summary>A lifetime that waits for nothing and listens to no signal: up stops the admin listener when it stops.</summary>
    private sealed class StoppedWithUp : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Admin API: {Method} {Path} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string method, string path);
}
