using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Shadowing.Embedded.Workflows;

/// <summary>
/// Builders for the listeners the embedded host runs for itself on loopback: the durable-task service, <c>up</c>'s admin
/// API, the sample endpoints.
/// </summary>
public static class InternalWebApplication
{
    /// <summary>
    /// A slim builder that reads no configuration: not the <c>appsettings.json</c> of the directory it runs from, not the
    /// environment. A <c>Kestrel</c> section in either (for the user's own app, or a router started from the same shell)
    /// would add its endpoints to the loopback ones set in code, exposing a listener that has no authentication on a
    /// public address, or take the port of another. No logging providers: the caller logs through its own host.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(); // where UseUrls and other settings made in code are kept
        builder.Logging.ClearProviders();
        return builder;
    }
}
