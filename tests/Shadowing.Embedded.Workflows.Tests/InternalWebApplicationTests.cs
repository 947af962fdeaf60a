using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Embedded.Workflows;

namespace Shadowing.Embedded.Workflows.Tests;

public sealed class InternalWebApplicationTests
{
    [Fact]
    public async Task CreateBuilder_ReadsNothingFromTheEnvironment_AndListensWhereTheCodeSays()
    {
        // A unique name: a Kestrel__Endpoints__… variable would reach every other host this process builds meanwhile.
        var name = "ShadowingInternalProbe" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name, "from the environment");
        try
        {
            var builder = InternalWebApplication.CreateBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            await using var app = builder.Build();
            app.MapGet("/", () => "ok");
            await app.StartAsync(TestContext.Current.CancellationToken);

            Assert.Null(app.Configuration[name]);
            Assert.Null(app.Configuration["ASPNETCORE_ENVIRONMENT"] ?? app.Configuration["PATH"]);
            var address = Assert.Single(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses);
            Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
            await app.StopAsync(TestContext.Current.CancellationToken);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }
}
