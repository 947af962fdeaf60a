using Shadowing.Cli.Forecasting;
using Shadowing.Cli.Samples;
using Shadowing.Cli.Up;
using Spectre.Console.Cli;

namespace Shadowing.Cli;

/// <summary>The commands of <c>shadowing</c>.</summary>
internal static class ShadowingCommands
{
    /// <summary>The command that <c>up</c> starts for each sample endpoint; not listed in help.</summary>
    public const string Hidden = "sample-endpoint";

    /// <summary>Every command and its settings type (what <see cref="CliErrors"/> suggests options from).</summary>
    public static IReadOnlyDictionary<string, Type> Settings { get; } = new Dictionary<string, Type>(StringComparer.Ordinal)
    {
        ["up"] = typeof(UpCommand.Settings),
        ["backtest"] = typeof(BacktestCommand.Settings),
        ["risk"] = typeof(RiskCommand.Settings),
        [Hidden] = typeof(SampleEndpointCommand.Settings),
    };

    public static void Configure(IConfigurator config)
    {
        config.SetApplicationName("shadowing");
        config.AddCommand<UpCommand>("up")
            .WithDescription("Run the embedded default: router, SQLite store, in-process pub/sub, the PAE timer and the sample service.")
            .WithExample("up")
            .WithExample("up", "--config", "my-shadowing.json", "--urls", "http://127.0.0.1:8080");
        config.AddCommand<BacktestCommand>("backtest")
            .WithDescription("Rolling-origin backtest of the demand forecaster on a timestamp,value CSV.")
            .WithExample("backtest", "--input", "nyc_taxi.csv", "--horizon", "5", "--start-index", "6500", "--end-index", "10314", "--holidays", "US", "--json");
        config.AddCommand<RiskCommand>("risk")
            .WithDescription("Causal failure-risk score and alarm for every row of a timestamp,value CSV.")
            .WithExample("risk", "--input", "cpu.csv", "--output", "cpu.risk.csv");
        config.AddCommand<SampleEndpointCommand>(Hidden)
            .WithDescription("Run one endpoint of the sample service (started by up).")
            .IsHidden();
    }
}
