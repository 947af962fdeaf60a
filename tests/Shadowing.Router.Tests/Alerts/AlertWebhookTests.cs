using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
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
    public void DefaultDeliveryTimeout_IsUnderDaprsDeliveryTimeout()
    {
        // daprd cancels a delivery at the resiliency policy's delivery timeout: the router's own tries must end before.
        var resiliency = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "components", "resiliency.yaml"));
        var delivery = TimeSpan.FromSeconds(int.Parse(Regex.Match(resiliency, @"^\s*delivery:\s*(\d+)s\s*$", RegexOptions.Multiline).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(new AlertOptions().DeliveryTimeout < delivery, $"{new AlertOptions().DeliveryTimeout} is under {delivery}");
    }

    [Fact]
    public async Task HungWebhook_TheTriesOfOneDeliveryEndAtItsDeadline()
    {
        var posts = 0;
        await using var receiver = await Shadowing.TestUtilities.Hosting.LoopbackApp.StartAsync(null, app => app.MapPost("/hook", async (HttpContext context) =>
        {
            Interlocked.Increment(ref posts);
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, context.RequestAborted);
        }));
        var bus = Substitute.For<IEventBus>();
        Func<Alert, CancellationToken, Task>? handler = null;
        bus.Subscribe(Topics.Alerts, Arg.Any<string>(), Arg.Do<Func<Alert, CancellationToken, Task>>(h => handler = h)).Returns(Substitute.For<IDisposable>());
        var options = new RouterOptions { Alerts = new AlertOptions { WebhookUrl = new Uri(Shadowing.TestUtilities.Hosting.LoopbackApp.AddressOf(receiver), "/hook?code=fn-key"), Attempts = 3, Timeout = TimeSpan.FromSeconds(30), DeliveryTimeout = TimeSpan.FromSeconds(1) } };
        using var webhook = new AlertWebhook(bus, Options.Create(options), TimeProvider.System, NullLogger<AlertWebhook>.Instance);
        await webhook.StartAsync(Ct);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => handler!(new Alert { Kind = AlertKind.Failover, Service = "orders", At = TimeProvider.System.GetUtcNow() }, Ct));

        Assert.Equal(1, posts); // one try of the delivery's second, not three of 30 s each (past daprd's own timeout)
        // The bus logs this and keeps it in its dead letters: the webhook's path and query (its credential) stay out.
        Assert.Contains(options.Alerts.WebhookUrl.GetLeftPart(UriPartial.Authority) + "/…", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("fn-key", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("/hook", error.Message, StringComparison.Ordinal);
        Assert.Equal("https://hooks.example.com/…", AlertWebhook.Shown(new Uri("https://u:token@hooks.example.com/services/T0/B0/secret"))); // user info too
    }
}
