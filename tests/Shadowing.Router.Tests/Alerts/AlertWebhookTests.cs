using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NSubstitute;
using Shadowing.Core.Messaging;
using Shadowing.Core.Validation;
using Shadowing.Router.Alerts;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Router.Tests.Alerts;

public sealed class AlertWebhookTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NoWebhook_EachAlertIsTakenAndLogged_NotLeftForTheBusToDeadLetter()
    {
        // On Dapr the router's subscription to `alerts` is declared whatever its settings: an alert it did not take was
        // answered 404, which daprd dead-letters, with an error in its log, and nobody saw it.
        var bus = Substitute.For<IEventBus>();
        Func<Alert, CancellationToken, Task>? handler = null;
        bus.Subscribe(Topics.Alerts, Arg.Any<string>(), Arg.Do<Func<Alert, CancellationToken, Task>>(h => handler = h)).Returns(Substitute.For<IDisposable>());
        var logger = Substitute.For<ILogger>();
        logger.IsEnabled(Arg.Any<LogLevel>()).Returns(true);
        var loggers = Substitute.For<ILoggerFactory>();
        loggers.CreateLogger(Arg.Any<string>()).Returns(logger);
        using var webhook = new AlertWebhook(bus, Options.Create(new RouterOptions()), TimeProvider.System, new Logger<AlertWebhook>(loggers));

        await webhook.StartAsync(Ct);
        Assert.NotNull(handler);
        await handler(new Alert { Kind = AlertKind.Failover, Service = "orders", Endpoint = "orders-shadow-1", Reasons = ["no production endpoint could take the request"], At = TimeProvider.System.GetUtcNow() }, Ct);

        var logged = Assert.Single(logger.ReceivedCalls(), c => c.GetMethodInfo().Name == nameof(ILogger.Log));
        Assert.Equal((LogLevel.Warning, 100), ((LogLevel)logged.GetArguments()[0]!, ((EventId)logged.GetArguments()[1]!).Id));
        var text = logged.GetArguments()[2]!.ToString();
        Assert.Contains("Alert Failover of orders: endpoint orders-shadow-1", text, StringComparison.Ordinal);
        Assert.Contains("no production endpoint could take the request", text, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultTries_EndWithinOneDaprDelivery()
    {
        // daprd cancels a delivery at the resiliency policy's delivery timeout: the tries the router had left never ran,
        // and a webhook that hung was tried once per delivery instead of Attempts times.
        var resiliency = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "components", "resiliency.yaml"));
        var delivery = TimeSpan.FromSeconds(int.Parse(Regex.Match(resiliency, @"^\s*delivery:\s*(\d+)s\s*$", RegexOptions.Multiline).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        var options = new AlertOptions();
        var pauses = TimeSpan.FromMilliseconds(Enumerable.Range(0, options.Attempts - 1).Sum(i => 200 * Math.Pow(2, i)));

        Assert.True((options.Attempts * options.Timeout) + pauses < delivery, $"{options.Attempts} tries of {options.Timeout} and {pauses} of pauses fit in {delivery}");
    }
}
