using Shadowing.Cli.Control;
using Shadowing.Cli.Demo;
using Shadowing.Cli.Forecasting;
using Shadowing.Cli.Samples;
using Shadowing.Cli.Sep;
using Shadowing.Cli.Up;
using Shadowing.Cli.Validation;
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
        ["demo"] = typeof(DemoCommand.Settings),
        ["backtest"] = typeof(BacktestCommand.Settings),
        ["risk"] = typeof(RiskCommand.Settings),
        ["simulate"] = typeof(SimulateCommand.Settings),
        ["risk-evaluate"] = typeof(RiskEvaluateCommand.Settings),
        ["validate"] = typeof(ValidateCommand.Settings),
        ["promote"] = typeof(PromoteCommand.Settings),
        ["plans"] = typeof(PlansCommand.Settings),
        ["kill-switch"] = typeof(KillSwitchCommand.Settings),
        ["status"] = typeof(StatusCommand.Settings),
        ["forecast-report"] = typeof(ForecastReportCommand.Settings),
        ["events"] = typeof(EventsCommand.Settings),
        ["routes"] = typeof(RoutesCommand.Settings),
        [Hidden] = typeof(SampleEndpointCommand.Settings),
    };

    public static void Configure(IConfigurator config)
    {
        config.SetApplicationName("shadowing");
        config.AddCommand<UpCommand>("up")
            .WithDescription("Run the embedded default: router, SQLite store, in-process pub/sub, the PAE timer and the sample service.")
            .WithExample("up")
            .WithExample("up", "--config", "my-shadowing.json", "--urls", "http://127.0.0.1:8080");
        config.AddCommand<DemoCommand>("demo")
            .WithDescription("The whole idea in a few minutes: the embedded stack on an accelerated clock, a forecast campaign spike, a shadow ready before it, production killed, nothing lost; a report with plots.")
            .WithExample("demo")
            .WithExample("demo", "--duration", "06:00:00", "--json", "--report", "demo-report");
        config.AddCommand<BacktestCommand>("backtest")
            .WithDescription("Rolling-origin backtest of the demand forecaster on a timestamp,value CSV.")
            .WithExample("backtest", "--input", "nyc_taxi.csv", "--horizon", "5", "--start-index", "6500", "--end-index", "10314", "--holidays", "US", "--json");
        config.AddCommand<SimulateCommand>("simulate")
            .WithDescription("Would proactive shadowing have helped on this trace? Simulates it against reactive autoscaling, a schedule and hourly predictive scaling on a virtual clock.")
            .WithExample("simulate", "--trace", "nyc_taxi.csv", "--policy", "all")
            .WithExample("simulate", "--trace", "requests.csv", "--policy", "proactive", "--cold-start", "5m", "--json");
        config.AddCommand<RiskCommand>("risk")
            .WithDescription("Causal failure-risk score and alarm for every row of a timestamp,value CSV.")
            .WithExample("risk", "--input", "cpu.csv", "--output", "cpu.risk.csv");
        config.AddCommand<RiskEvaluateCommand>("risk-evaluate")
            .WithDescription("The failure-risk scorer's NAB-style score on labelled series, each scored with settings chosen on the others, beside a rolling z-score.")
            .WithExample("risk-evaluate", "--data", "../shared/data/nab");
        config.AddCommand<ValidateCommand>("validate")
            .WithDescription("The latest verdict on each shadow of a service (PVU), or judge them now with --judge.")
            .WithExample("validate", "--service", "orders")
            .WithExample("validate", "--service", "orders", "--judge", "--window", "00:30:00", "--json");
        config.AddCommand<PromoteCommand>("promote")
            .WithDescription("Promote a shadow whose latest verdict is a recent Pass: to Active, or to a production endpoint.")
            .WithExample("promote", "orders", "orders-shadow-1")
            .WithExample("promote", "orders", "orders-shadow-1", "--to", "production");
        config.AddCommand<PlansCommand>("plans")
            .WithDescription("What SEP decided on each shadow request: admitted, dry run or refused by a guard rail, and why.")
            .WithExample("plans")
            .WithExample("plans", "--service", "orders", "--json");
        config.AddCommand<KillSwitchCommand>("kill-switch")
            .WithDescription("Stop new shadows and retire running ones (on), or allow them again (off).")
            .WithExample("kill-switch", "on", "--by", "oncall")
            .WithExample("kill-switch", "off");
        config.AddCommand<StatusCommand>("status")
            .WithDescription("Services, one service (shadows with their phases, requests, forecast, what the PAE last did) or one workflow instance, from the control API.")
            .WithExample("status")
            .WithExample("status", "orders")
            .WithExample("status", "shadows-orders-20261202T1400Z", "--json");
        config.AddCommand<ForecastReportCommand>("forecast-report")
            .WithDescription("How the PAE's forecasts did against the actuals: recent WAPE, bias, bias at peaks and p90 coverage per horizon, of what it forecast and of each candidate.")
            .WithExample("forecast-report")
            .WithExample("forecast-report", "orders", "--json");
        config.AddCommand<EventsCommand>("events")
            .WithDescription("The campaign and news calendar the PAE reads for a service: add, list, remove.")
            .WithExample("events", "add", "orders", "--start", "2026-12-24T18:00:00Z", "--end", "2026-12-24T22:00:00Z", "--name", "xmas-sale", "--multiplier", "2")
            .WithExample("events", "list", "orders")
            .WithExample("events", "remove", "orders", "--name", "xmas-sale");
        config.AddCommand<RoutesCommand>("routes")
            .WithDescription("Check a routing file, diff it against the store, or apply it (stored shadows the file does not name are kept).")
            .WithExample("routes", "validate", "routes.yaml")
            .WithExample("routes", "diff", "routes.yaml")
            .WithExample("routes", "apply", "routes.yaml");
        config.AddCommand<SampleEndpointCommand>(Hidden)
            .WithDescription("Run one endpoint of the sample service (started by up).")
            .IsHidden();
    }
}
