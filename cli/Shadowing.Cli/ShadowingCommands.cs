using Shadowing.Cli.Samples;
using Shadowing.Cli.Up;
using Spectre.Console.Cli;

namespace Shadowing.Cli;

/// <summary>The commands of <c>shadowing</c>.</summary>
internal static class ShadowingCommands
{
    public static void Configure(IConfigurator config)
    {
        config.SetApplicationName("shadowing");
        config.AddCommand<UpCommand>("up")
            .WithDescription("Run the embedded default: router, SQLite store, in-process pub/sub and the sample service.")
            .WithExample("up")
            .WithExample("up", "--config", "my-shadowing.json", "--urls", "http://127.0.0.1:8080");
        config.AddCommand<SampleEndpointCommand>("sample-endpoint")
            .WithDescription("Run one endpoint of the sample service (started by up).")
            .IsHidden();
    }
}
