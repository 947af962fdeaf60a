using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Embedded.Messaging;
using Shadowing.Router.Alerts;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Messaging;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Alerts;

/// <summary>The alert path, counted at both ends: raised by the router, through the bus, POSTed to a receiver that fails often.</summary>
public sealed class AlertWebhookDeliveryTests
{
    private const int Total = 100;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FlakyReceiver_EveryAlertActedOnOnceByItsIdempotencyKey_OrDeadLettered_NoneLost()
    {
        // Alert n (service svc-n): every third fails its first POST unprocessed; every fifth is processed and then
        // answered 500, so it comes again; every twentieth is never accepted and ends in the bus's dead letters.
        var processed = new ConcurrentQueue<(string Key, string Service)>();
        var posts = new ConcurrentDictionary<string, int>();
        await using var receiver = await LoopbackApp.StartAsync(null, app => app.MapPost("/hook", async (HttpContext context) =>
        {
            using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            var service = body.RootElement.GetProperty("service").GetString()!;
            var key = context.Request.Headers[AlertWebhook.IdempotencyKeyHeader].ToString();
            var n = int.Parse(service["svc-".Length..], System.Globalization.CultureInfo.InvariantCulture);
            var post = posts.AddOrUpdate(service, 1, (_, p) => p + 1);
            if (n % 20 == 0 || (n % 3 == 0 && post == 1))
            {
                return Results.StatusCode(503);
            }

            processed.Enqueue((key, service));
            return n % 5 == 0 && post == 1 ? Results.StatusCode(500) : Results.Ok();
        }));
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync(
            [Table.For("orders", [p1])],
            new Dictionary<string, string?>
            {
                ["Router:Alerts:WebhookUrl"] = new Uri(LoopbackApp.AddressOf(receiver), "/hook").ToString(),
                ["Router:Alerts:Attempts"] = "1", // the bus's retries and dead letters do the rest
            });
        var alerts = router.App.Services.GetRequiredService<AlertPublisher>();

        var sent = Enumerable.Range(1, Total).Select(n => $"svc-{n}").ToList();
        foreach (var service in sent)
        {
            Assert.True(alerts.TryRaise(AlertKind.Failover, service, "p1", "test", null));
        }

        async Task<DeliveryCheck> CheckAsync()
        {
            var letters = new List<string>();
            foreach (var key in await router.Store.ListKeysAsync($"{StateKeys.DeadLetterPrefix}{Topics.Alerts}/router-webhook/", Ct))
            {
                letters.Add((await router.Store.GetJsonAsync<DeadLetter>(key, Ct))!.Value.Data.GetProperty("service").GetString()!);
            }

            return DeliveryCheck.Of(sent, processed.Select(p => p.Service), letters);
        }

        DeliveryCheck check = null!;
        await Eventually.WaitUntilAsync(async () => (check = await CheckAsync()).Lost.Count == 0, "every alert processed or dead-lettered", TimeSpan.FromSeconds(60), Ct);
        Assert.True(check.Holds, check.ToString());
        Assert.Equal(Total / 20, check.DeadLettered);
        Assert.True(check.Duplicates > 0, "an alert processed but answered 500 is POSTed again");

        // Once in effect: every delivery of an alert had the same key, and no two alerts shared one.
        var keysByService = processed.GroupBy(p => p.Service).ToDictionary(g => g.Key, g => g.Select(p => p.Key).Distinct().ToList());
        Assert.All(keysByService, pair => Assert.Single(pair.Value));
        Assert.Equal(keysByService.Count, processed.Select(p => p.Key).Distinct().Count());
        TestContext.Current.TestOutputHelper?.WriteLine($"alerts: {check}; {processed.Count} POSTs processed, {keysByService.Count} distinct keys");
    }
}
