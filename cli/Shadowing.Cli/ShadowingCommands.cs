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
        config.AddCommand<Forecasting.BacktestCommand>("backtest")
            .WithDescription("Rolling-origin backtest of the demand forecaster on a timestamp,value CSV.")
            .WithExample("backtest", "--input", "nyc_taxi.csv", "--horizon", "5", "--start-index", "6500", "--end-index", "10314", "--holidays", "US", "--json");
        config.AddCommand<Forecasting.RiskCommand>("risk")
            .WithDescription("Causal failure-risk score and alarm for every row of a timestamp,value CSV.")
            .WithExample("risk", "--input", "cpu.csv", "--output", "cpu.risk.csv");
        config.AddCommand<SampleEndpointCommand>("sample-endpoint")
            .WithDescription("Run one endpoint of the sample service (started by up).")
            .IsHidden();
    }
}
