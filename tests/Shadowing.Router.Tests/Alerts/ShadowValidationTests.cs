using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Router.Alerts;
using Shadowing.Router.Mirroring;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Alerts;

/// <summary>PVU through the real router with mirroring on: verdicts from real copies, a signed webhook alert, promotion.</summary>
public sealed class ShadowValidationTests
{
    private const string Secret = "webhook-secret";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SlowShadowFails_WithASignedAlert_SoundShadowPasses_AndOnlyThePassingOneIsPromoted()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var sound = await TestBackend.StartAsync("sound");
        await using var slow = await TestBackend.StartAsync("slow");
        p1.Delay = sound.Delay = TimeSpan.FromMilliseconds(100);
        slow.Delay = TimeSpan.FromMilliseconds(300); // injected latency: 3x production
        var received = new ConcurrentQueue<(string Body, string? Signature, string? Key)>();
        await using var receiver = await LoopbackApp.StartAsync(null, app => app.MapPost("/alerts", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            received.Enqueue((await reader.ReadToEndAsync(), request.Headers[AlertWebhook.SignatureHeader].FirstOrDefault(), request.Headers[AlertWebhook.IdempotencyKeyHeader].FirstOrDefault()));
            return Results.Ok();
        }));
        var table = new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = p1.Address.ToString(), MaxConcurrency = 100 }],
            Shadows =
            [
                new ShadowEndpoint { Id = "sound", Address = sound.Address.ToString(), State = ShadowState.WarmingUp },
                new ShadowEndpoint { Id = "slow", Address = slow.Address.ToString(), State = ShadowState.WarmingUp },
            ],
            Mirror = new MirrorPolicy { Percent = 100, IgnoreFields = ["endpoint"] },
            // Real wall-clock latencies of two 100 ms endpoints, one loaded by copies in bursts on a busy machine: a
            // shift of 50 % is allowed (the default 10 % is 10 ms here), and the slow one's 200 % still fails.
            Validation = new ValidationSettings { Latency = new LatencyCheck { MaxRelativeShift = 0.5 } },
        };
        await using var router = await RouterHost.StartAsync(
            [table],
            new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "64", ["Router:Alerts:WebhookUrl"] = new Uri(LoopbackApp.AddressOf(receiver), "/alerts").ToString(), ["Router:Alerts:WebhookSecret"] = Secret });
        const int Requests = 120;

        await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (i, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/orders/items/{i}", UriKind.Relative));
            request.Headers.Add("x-client-secret", "hunter2");
            using var response = await router.Client.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });
        await Eventually.WaitUntilAsync(() => sound.Received.Count == Requests && slow.Received.Count == Requests, "every copy answered", cancellationToken: Ct);
        await Eventually.WaitUntilAsync(async () =>
        {
            await router.App.Services.GetRequiredService<OutcomeRecorder>().FlushAsync(Ct);
            return await StoredAsync(router, "slow") == Requests && await StoredAsync(router, "sound") == Requests;
        }, "every outcome stored", cancellationToken: Ct);
        var validator = new ShadowValidator(router.Store, router.Bus, TimeProvider.System);

        var slowVerdict = await validator.ValidateAsync("orders", "slow", TimeSpan.FromMinutes(10), cancellationToken: Ct);
        var soundVerdict = await validator.ValidateAsync("orders", "sound", TimeSpan.FromMinutes(10), cancellationToken: Ct);

        Assert.Equal(Verdict.Fail, slowVerdict.Verdict);
        Assert.StartsWith("latency: slower than production", slowVerdict.Reasons[0], StringComparison.Ordinal);
        Assert.Equal(Requests, slowVerdict.Metrics.Single(m => m.Metric == "latency").ShadowSamples);
        Assert.True(soundVerdict.Verdict == Verdict.Pass, string.Join(" | ", soundVerdict.Reasons));
        var stored = await validator.LatestAsync("orders", "slow", Ct);
        Assert.Equal((slowVerdict.Verdict, slowVerdict.JudgedAt), (stored!.Verdict, stored.JudgedAt));
        Assert.Equal(slowVerdict.Reasons, stored.Reasons);
        Assert.Equal(slowVerdict.Metrics, stored.Metrics);

        // One alert, for the slow shadow, signed, with names and reasons only.
        await Eventually.WaitUntilAsync(() => !received.IsEmpty, "the webhook alert", cancellationToken: Ct);
        var (body, signature, key) = Assert.Single(received);
        var t = long.Parse(signature!.Split(',')[0]["t=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() - t, 0, 600); // sent just now: a receiver refuses an old one
        Assert.Equal(AlertWebhook.Sign(t, key!, System.Text.Encoding.UTF8.GetBytes(body), Secret), signature);
        var alert = ShadowingJson.Deserialize<Alert>(System.Text.Encoding.UTF8.GetBytes(body));
        Assert.Equal((AlertKind.ValidationFailed, "orders", "slow", Verdict.Fail), (alert.Kind, alert.Service, alert.Endpoint, alert.Verdict));
        Assert.Equal("verdicts/orders/slow", alert.Status);
        Assert.DoesNotContain("hunter2", body, StringComparison.Ordinal);

        // Promotion: refused for the failed shadow, accepted for the passing one, which then serves as production.
        var promotion = new ShadowPromotion(router.Store, router.Bus, TimeProvider.System);
        var refused = await Assert.ThrowsAsync<PromotionRefusedException>(() => promotion.PromoteAsync("orders", "slow", PromotionTarget.Production, Ct));
        Assert.Contains("latest verdict is Fail", refused.Message, StringComparison.Ordinal);
        await promotion.PromoteAsync("orders", "sound", PromotionTarget.Production, Ct);
        await p1.KillAsync();

        await Eventually.WaitUntilAsync(
            async () =>
            {
                using var response = await router.Client.GetAsync(new Uri("/orders/items/after", UriKind.Relative), Ct);
                var read = response.StatusCode == HttpStatusCode.OK ? await Table.ReadAsync(response) : null;
                return read is { Route: "production", Answer.Endpoint: "sound" };
            },
            "the promoted shadow serving as production",
            cancellationToken: Ct);
    }

    private static async Task<int> StoredAsync(RouterHost router, string shadow) =>
        (await StoredOutcomes.ReadAsync(router.Store, "orders", shadow, Ct)).Sum(slot => slot.Outcomes.Count);

    [Fact]
    public void Sign_CoversTheTimeAndTheIdempotencyKey_SoADeliveryReplayedLaterOrUnderAnotherKeyDoesNotVerify()
    {
        var body = System.Text.Encoding.UTF8.GetBytes("{\"kind\":\"ValidationFailed\"}");
        var signature = AlertWebhook.Sign(1_765_000_000, "key-1", body, Secret);

        Assert.StartsWith("t=1765000000,sha256=", signature, StringComparison.Ordinal);
        Assert.NotEqual(signature[(signature.IndexOf(',', StringComparison.Ordinal) + 1)..], AlertWebhook.Sign(1_765_000_600, "key-1", body, Secret).Split(',')[1]);
        Assert.NotEqual(signature, AlertWebhook.Sign(1_765_000_000, "key-2", body, Secret));
        Assert.NotEqual(signature, AlertWebhook.Sign(1_765_000_000, "key-1", [.. body, (byte)' '], Secret));
    }
}
