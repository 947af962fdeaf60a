using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Dapr;
using Shadowing.Dapr.Messaging;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Messaging;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Mirroring;

/// <summary>The pub/sub transport: envelopes on <c>mirror.{service}</c>, replayed by the router to shadows.</summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class MirrorPubSubTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EmbeddedBus_EnvelopePublished_ReplayedAfterTheTimeShift_OutcomePublished()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        var shift = TimeSpan.FromSeconds(3);
        var policy = new MirrorPolicy
        {
            Percent = 100,
            Transport = MirrorTransport.PubSub,
            TimeShift = shift,
            Selector = new() { Kind = MirrorSelectorKind.Header, Name = "x-user" },
        };
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], policy)]);
        var outcomes = MirroringTests.Collect(router);
        var envelopes = new ConcurrentQueue<MirroredRequest>();
        router.Bus.Subscribe<MirroredRequest>(Topics.Mirror("orders"), "test", (e, _) =>
        {
            envelopes.Enqueue(e);
            return Task.CompletedTask;
        });
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items?page=1", UriKind.Relative));
        request.Headers.Add("x-user", "alice");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "secret");
        var clock = Stopwatch.StartNew();

        using var response = await router.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Eventually.WaitUntilAsync(() => !envelopes.IsEmpty, "the envelope on mirror.orders", cancellationToken: Ct);
        var envelope = Assert.Single(envelopes);
        Assert.Equal(("orders", "GET", "/items", "?page=1"), (envelope.Service, envelope.Method, envelope.Path, envelope.Query));
        Assert.Equal(["s1"], envelope.Targets);
        Assert.Equal(("p1", 200), (envelope.Production.EndpointId, envelope.Production.Status));
        // Production's answer travels as its fingerprint: its shape, no value of it (nor its unsalted digest); the replayer still
        // finds where they differ.
        Assert.Null(envelope.Production.BodyDigest);
        using (var shape = JsonDocument.Parse(envelope.ProductionFingerprint))
        {
            Assert.Equal(["endpoint", "method", "path", "query", "body", "daprAppId"], shape.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.DoesNotContain(shape.RootElement.EnumerateObject(), p => p.Value.GetString() is "p1" or "GET" or "/items" or "page=1" or "?page=1");
        }

        Assert.DoesNotContain(envelope.Headers.Keys, k => k.Equals("Authorization", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(envelope.ReceivedAt + policy.TimeToLive, envelope.ExpiresAt);

        await Eventually.WaitUntilAsync(() => !s1.Received.IsEmpty, "the replayed copy", cancellationToken: Ct);
        Assert.True(clock.Elapsed >= shift - TimeSpan.FromMilliseconds(100), $"replayed after {clock.Elapsed}, before the {shift} shift");
        Assert.Equal("/items", Assert.Single(s1.Received).Path);
        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the outcome", cancellationToken: Ct);
        var outcome = Assert.Single(outcomes);
        Assert.Equal((envelope.Id, "s1", 200), (outcome.RequestId, outcome.Copy.EndpointId, outcome.Copy.Status));
        Assert.True(outcome.Compared);
        Assert.Equal(["$.endpoint"], outcome.DifferingPaths);

        // Kept by when production received it, judged by when the copy went out (validation's window).
        Assert.Equal(envelope.ReceivedAt, outcome.ReceivedAt);
        Assert.True(outcome.SentAt >= outcome.ReceivedAt + shift - TimeSpan.FromMilliseconds(100), $"sent at {outcome.SentAt}, received at {outcome.ReceivedAt}");

        // Captures, the queued job, the waiting envelope and the answer read: each gave its bytes back.
        var memory = router.App.Services.GetRequiredService<Router.Mirroring.MirrorMemory>();
        await Eventually.WaitUntilAsync(() => memory.Held == 0, "the mirror's memory given back", cancellationToken: Ct);
    }

    [Fact]
    public async Task EmbeddedBus_DuplicateDeliveredOnce_AmplifiedKTimes_ExpiredAndUnsafeDropped()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Methods = ["GET", "POST"], Transport = MirrorTransport.PubSub, Amplify = 3 })]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var outcomes = MirroringTests.Collect(router);
        var now = TimeProvider.System.GetUtcNow();
        // Whoever published it, an envelope's credentials never reach the shadow: the replayer filters its headers again.
        var envelope = Envelope("a", now) with
        {
            Headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase) { ["Authorization"] = ["Bearer t-1"], ["X-Api-Key"] = ["k-1"], ["Accept"] = ["application/json"] },
        };

        await router.Bus.PublishAsync(Topics.Mirror("orders"), envelope, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), envelope, Ct); // a redelivery
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("old", now.AddMinutes(-20)) with { ExpiresAt = now.AddMinutes(-10) }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("write", now) with { Method = "POST", Body = "{}"u8.ToArray() }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("tunnelled", now) with { Headers = new Dictionary<string, string[]> { ["x-http-method-override"] = ["DELETE"] } }, Ct); // a write too

        await Eventually.WaitUntilAsync(() => s1.Received.Count == 3, "three replays of the safe copy", cancellationToken: Ct);
        await Eventually.WaitUntilAsync(
            async () =>
            {
                var metrics = await router.MetricsAsync();
                return Dropped(metrics, "duplicate") == 1 && Dropped(metrics, "expired") == 1 && Dropped(metrics, "no_target") == 2;
            },
            "the duplicate, the expired and the two unsafe envelopes dropped and counted",
            cancellationToken: Ct);
        Assert.All(s1.Received, r => Assert.Equal(("GET", "/items/a"), (r.Method, r.Path)));
        Assert.All(s1.Received, r => Assert.Equal((false, false, "application/json"), (r.Headers.ContainsKey("Authorization"), r.Headers.ContainsKey("X-Api-Key"), r.Headers["Accept"])));
        Assert.Equal(3, s1.Received.Count);

        // Each replay is an outcome of its own, counted by warm-up and judged; they name the request they copy.
        await Eventually.WaitUntilAsync(() => outcomes.Count == 3, "an outcome per replay", cancellationToken: Ct);
        Assert.Equal(["a", "a#1", "a#2"], outcomes.Select(o => o.RequestId).Order(StringComparer.Ordinal));
        Assert.All(outcomes, o => Assert.Equal("a", o.OriginalRequestId));
    }

    [Fact]
    public async Task EmbeddedBus_AnEnvelopeWhosePathWouldLeaveTheShadowsOwn_IsDropped_AndThePolicyAsItIsNowIsAppliedAgain()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, true)], new MirrorPolicy
        {
            Percent = 100, Methods = ["GET", "POST"], Transport = MirrorTransport.PubSub, StripQuery = ["token"], StripJsonFields = ["card"],
        })]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var now = TimeProvider.System.GetUtcNow();

        // Published by something other than this router (or before the policy was tightened).
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("up", now) with { Path = "/../../v1.0/state/statestore/x" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("relative", now) with { Path = "items" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("encoded", now) with { Path = "/items/../../x", RawPath = "/items/%2e%2e/%2E%2E/x" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("query", now) with { Query = "/../../x" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("backslash", now) with { Path = "/x%2Fy\\..\\..\\admin", RawPath = "/x%2Fy\\..\\..\\admin" }, Ct); // Uri: /admin
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("root", now) with { Path = string.Empty }, Ct); // GET /orders
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("reset", now) with { Path = "/reset?" }, Ct); // GET /orders/reset%3F
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("other", now) with { Service = "payments" }, Ct); // another service's shadows
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("ahead", now.AddDays(1)), Ct); // waited a day, holding its place
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("ok", now) with
        {
            Method = "POST", Path = "/items;jsessionid=J-1/ok", Query = "?token=t&code=fn-key&page=2",
            Headers = new Dictionary<string, string[]> { ["Content-Type"] = ["application/json"] }, Body = """{"card":"4111","sku":"a"}"""u8.ToArray(),
        }, Ct);

        await Eventually.WaitUntilAsync(async () => Dropped(await router.MetricsAsync(), "malformed") == 6, "the six malformed envelopes dropped and counted", cancellationToken: Ct);
        await Eventually.WaitUntilAsync(() => s1.Received.Count == 4, "the well-formed ones replayed", cancellationToken: Ct);
        Assert.Contains(s1.Received, r => r.Path == "/items/ahead");
        Assert.Contains(s1.Received, r => r.RawTarget == "/reset%3F");
        Assert.Contains(s1.Received, r => r.Path == "/");
        var replayed = Assert.Single(s1.Received, r => r.Method == "POST");
        Assert.Equal(("/items;jsessionid/ok", "?page=2", """{"sku":"a"}"""), (replayed.Path, replayed.Query, replayed.Body));
    }

    [Fact]
    public async Task EmbeddedBus_AnActiveShadow_GetsEachCopyOnce_NotTheReplaysThatAmplifyAnothersWarmUp()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var a1 = await TestBackend.StartAsync("a1");
        var table = MirroringTests.With(p1, [(s1, false), (a1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, Amplify = 3 });
        table = table with { Shadows = [.. table.Shadows.Select(s => s.Id == "a1" ? s with { State = ShadowState.Active } : s)] };
        await using var router = await RouterHost.StartAsync([table]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);

        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("a", TimeProvider.System.GetUtcNow()) with { Targets = ["s1", "a1"] }, Ct);

        await Eventually.WaitUntilAsync(() => s1.Received.Count == 3 && a1.Received.Count == 1, "three replays to the warming shadow, one copy to the Active one", cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct);
        Assert.Single(a1.Received);
    }

    [Fact]
    public async Task EmbeddedBus_PacedDownToATargetRate_TheRequestsLeftOutAreCounted()
    {
        // More arrive than targetRatePerSecond: a safe request replayed 0 times sent nothing, and said so nowhere.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, TargetRatePerSecond = 0.01 })]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);

        for (var i = 0; i < 20; i++)
        {
            await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope($"e{i}", TimeProvider.System.GetUtcNow()), Ct);
        }

        // Each is replayed with a chance of the target over the arrivals (about 1 % here): every one is either sent or counted.
        await Eventually.WaitUntilAsync(async () => s1.Received.Count + (Dropped(await router.MetricsAsync(), "paced") ?? 0) == 20, "each envelope replayed or counted as paced", cancellationToken: Ct);
        Assert.True(Dropped(await router.MetricsAsync(), "paced") >= 1);
    }

    [Fact]
    public async Task EmbeddedBus_EnvelopesWaitingForTheirShift_HeldWithinTheMemoryBudget_TheRestDroppedAsMemoryLimit()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync(
            [MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, TimeShift = TimeSpan.FromHours(1), TimeToLive = TimeSpan.FromHours(2) })],
            new Dictionary<string, string?> { ["Router:Mirroring:MaxBufferedBytes"] = (2 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var memory = router.App.Services.GetRequiredService<Router.Mirroring.MirrorMemory>();
        var now = TimeProvider.System.GetUtcNow();

        for (var i = 0; i < 20; i++)
        {
            // 200,000 bytes each: five fit in the 1 MiB (half the budget) envelopes may hold while they wait an hour for their replay.
            var envelope = Envelope($"big{i}", now) with { Body = new byte[150_000], ProductionFingerprint = new byte[50_000], ExpiresAt = now.AddHours(2) };
            await router.Bus.PublishAsync(Topics.Mirror("orders"), envelope, Ct);
        }

        await Eventually.WaitUntilAsync(async () => Dropped(await router.MetricsAsync(), "memory_limit") == 15, "fifteen envelopes dropped as memory_limit", cancellationToken: Ct);
        Assert.Equal(5 * 200_000, memory.Held);
        Assert.Empty(s1.Received);
    }

    [Fact]
    public async Task EmbeddedBus_RateLimit_SpacesTheReplays()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, RatePerSecond = 2 })]);
        var replayer = router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>();
        await Eventually.WaitUntilAsync(() => replayer.Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var clock = Stopwatch.StartNew();

        for (var i = 0; i < 6; i++)
        {
            await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope($"r{i}", TimeProvider.System.GetUtcNow()), Ct);
        }

        await Eventually.WaitUntilAsync(() => s1.Received.Count == 6, "six replays", cancellationToken: Ct);

        // Two at once (a second's burst), then one every half second: at least two seconds for the last.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"six replays at 2/s took only {clock.Elapsed}");

        // Each envelope held back went back in the queue once, at its own slot, in order: the whole backlog was not taken
        // out and put back at every token (four held back: 2 + 4 × 2 passes; fewer if a stalled machine looked late).
        Assert.InRange(replayer.Passes, 6, 10);
        Assert.Equal(Enumerable.Range(2, 4).Select(i => $"/items/r{i}"), s1.Received.Skip(2).Select(r => r.Path)); // the two of the burst may cross
    }

    [Fact]
    public async Task EmbeddedBus_RateLimit_AnEnvelopeWhoseSlotComesAfterItExpires_DroppedAtOnce_TakingNoSlot()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, RatePerSecond = 0.5 })]);
        var replayer = router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>();
        await Eventually.WaitUntilAsync(() => replayer.Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var now = TimeProvider.System.GetUtcNow();

        // At one every two seconds, slots now, +2 s and +4 s come before the envelopes expire; the other five's would not
        // (the replayer's first look comes a little after `now`: 1.5 s of margin for a slow machine).
        for (var i = 0; i < 8; i++)
        {
            await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope($"x{i}", now) with { ExpiresAt = now.AddSeconds(5.5) }, Ct);
        }

        await Eventually.WaitUntilAsync(async () => s1.Received.Count == 3 && Dropped(await router.MetricsAsync(), "expired") == 5, "three replayed, five dropped as expired", cancellationToken: Ct);

        // The five went at their first look, not after waiting in the queue (holding its room and memory) for slots they
        // would not live to see: one pass each, and two for each of the two held back (15 had they waited; fewer than 10
        // only if a stalled machine looked at x1 or x2 after its slot).
        Assert.InRange(replayer.Passes, 8, 10);
    }

    [Fact]
    public async Task EmbeddedBus_OneServicesRateLimit_DoesNotHoldUpAnotherServicesReplays()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var bs = await TestBackend.StartAsync("bs");
        var pubSub = new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub };
        await using var router = await RouterHost.StartAsync(
        [
            MirroringTests.With(p1, [(s1, false)], pubSub with { RatePerSecond = 1 }),
            MirroringTests.With(b1, [(bs, false)], pubSub) with { Service = "billing" },
        ]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 2, "the replayer subscribed", cancellationToken: Ct);
        var now = TimeProvider.System.GetUtcNow();

        // Ten of orders' at one a second take nine seconds; billing's five, published after them, go at once.
        for (var i = 0; i < 10; i++)
        {
            await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope($"o{i}", now), Ct);
        }

        for (var i = 0; i < 5; i++)
        {
            await router.Bus.PublishAsync(Topics.Mirror("billing"), Envelope($"b{i}", now) with { Service = "billing", Targets = ["bs"], Production = new EndpointAnswer("b1", 200, 1, 2, null) }, Ct);
        }

        await Eventually.WaitUntilAsync(() => bs.Received.Count == 5, "billing's five replays", cancellationToken: Ct);
        Assert.InRange(s1.Received.Count, 1, 9); // before, billing's waited behind every one of orders'
        await Eventually.WaitUntilAsync(() => s1.Received.Count == 10, "orders' ten replays, at its rate", cancellationToken: Ct);
        Assert.Equal(10, s1.Received.Select(r => r.Path).Distinct().Count());
    }

    [Fact]
    public async Task EmbeddedBus_ProductionNoise_NotReplayedToAnEndpointTakenOutOfServiceSinceTheRequest()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        p2.Healthy = false;
        var table = MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, SecondaryShare = 1 });
        table = table with { Production = [.. table.Production, new ProductionEndpoint { Id = "p2", Address = p2.Address.ToString(), MaxConcurrency = 100 }] };
        await using var router = await RouterHost.StartAsync([table]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p2"), "p2 out of service", cancellationToken: Ct);
        var outcomes = MirroringTests.Collect(router);
        var now = TimeProvider.System.GetUtcNow();

        // Published while p2 still served (as after a time shift): by the replay the router has taken it out.
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("n1", now) with { Secondary = "p2" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("n2", now), Ct);

        await Eventually.WaitUntilAsync(() => outcomes.Count(o => o.Kind == OutcomeKind.Shadow) == 2, "both envelopes' shadow outcomes", cancellationToken: Ct);
        Assert.Equal(0, p2.Requests);
        Assert.DoesNotContain(outcomes, o => o.Kind == OutcomeKind.ProductionNoise);
    }

    [Fact]
    public async Task EmbeddedBus_AWriteNamingASecondProductionEndpoint_IsNeverSentThere()
    {
        // The router names a second endpoint for safe requests only; an envelope from any other publisher is checked again.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        var table = MirroringTests.With(p1, [(s1, true)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, Methods = ["GET", "DELETE"] });
        table = table with { Production = [.. table.Production, new ProductionEndpoint { Id = "p2", Address = p2.Address.ToString(), MaxConcurrency = 100 }] };
        await using var router = await RouterHost.StartAsync([table]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var now = TimeProvider.System.GetUtcNow();

        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("w1", now) with { Method = "DELETE", Secondary = "p2" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("t1", now) with { Headers = new Dictionary<string, string[]> { ["X-HTTP-Method-Override"] = ["DELETE"] }, Secondary = "p2" }, Ct);
        await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope("r1", now) with { Secondary = "p2" }, Ct);

        await Eventually.WaitUntilAsync(() => s1.Received.Count == 3 && p2.Requests == 1, "three copies to the isolated shadow, the read's also to p2", cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct); // the writes were published first
        Assert.Equal(["GET /items/r1"], p2.Received.Select(r => $"{r.Method} {r.Path}"));
    }

    [Fact]
    public async Task ManyEnvelopes_EveryFifthDeliveredTwice_EachReplayedToTheShadowOnce_RedeliveriesCountedAsDuplicates()
    {
        // The mirror-envelope path counted at both ends: 200 envelopes, every fifth delivered again (at-least-once).
        const int total = 200;
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([MirroringTests.With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub })]);
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        var now = TimeProvider.System.GetUtcNow();
        var sent = Enumerable.Range(1, total).Select(n => $"e{n}").ToList();
        foreach (var (id, n) in sent.Select((id, i) => (id, i + 1)))
        {
            await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope(id, now), Ct);
            if (n % 5 == 0)
            {
                await router.Bus.PublishAsync(Topics.Mirror("orders"), Envelope(id, now), Ct);
            }
        }

        await Eventually.WaitUntilAsync(
            async () => s1.Received.Count >= total && Dropped(await router.MetricsAsync(), "duplicate") == total / 5,
            "every envelope replayed and every redelivery counted",
            cancellationToken: Ct);
        var check = DeliveryCheck.Of(sent, s1.Received.Select(r => r.Path["/items/".Length..]), []);
        Assert.True(check.Holds, check.ToString());
        Assert.Equal(0, check.Duplicates); // the shadow saw each once
        TestContext.Current.TestOutputHelper?.WriteLine($"mirror envelopes: {check}; {total / 5} redeliveries dropped as duplicates");
    }

    [Fact]
    public async Task DaprAdapter_EnvelopeOnTheQueueComponentWithATtl_DeliveredBackByTheSidecar_ReplayedAfterTheShift_OutcomePublished()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        using var dapr = sidecar.CreateClient();
        var bus = new DaprEventBus(dapr);
        var policy = new MirrorPolicy { Percent = 100, Transport = MirrorTransport.PubSub, TimeToLive = TimeSpan.FromMinutes(2), TimeShift = TimeSpan.FromSeconds(2) };
        await using var router = await RouterHost.StartAsync(
            [MirroringTests.With(p1, [(s1, false)], policy)],
            services: s =>
            {
                s.AddSingleton(bus);
                s.AddSingleton<IEventBus>(bus);
            });

        // daprd reads the app's subscriptions once, at its start.
        var subscriptions = await sidecar.State.PubSub.LoadFromAppAsync(router.Address, Ct);
        var mirror = Assert.Single(subscriptions, s => s.Topic == "mirror.orders");
        Assert.Equal((DaprComponents.QueuePubSub, "/events/mirror.orders", (string?)null), (mirror.PubSubName, mirror.Route.AbsolutePath, mirror.DeadLetterTopic));
        await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<Router.Mirroring.MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);

        var clock = Stopwatch.StartNew();
        using var response = await router.Client.GetAsync(new Uri("/orders/items/7", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Eventually.WaitUntilAsync(() => !s1.Received.IsEmpty, "the copy replayed from the sidecar's delivery", cancellationToken: Ct);
        Assert.True(clock.Elapsed >= policy.TimeShift - TimeSpan.FromMilliseconds(100), $"replayed after {clock.Elapsed}, before the {policy.TimeShift} shift");
        Assert.Equal("/items/7", Assert.Single(s1.Received).Path);
        var published = Assert.Single(sidecar.State.Published, e => e.Topic == "mirror.orders");
        Assert.Equal(DaprComponents.QueuePubSub, published.PubSubName);
        Assert.NotNull(published.ExpiresAt);
        Assert.InRange(published.ExpiresAt!.Value - TimeProvider.System.GetUtcNow(), TimeSpan.FromSeconds(60), TimeSpan.FromMinutes(2));
        var envelope = ShadowingJson.Deserialize<MirroredRequest>(published.Data);
        Assert.Equal("/items/7", envelope.Path);
        await Eventually.WaitUntilAsync(() => sidecar.State.Published.Any(e => e.Topic == Topics.ShadowOutcomes), "the outcome published through the sidecar", cancellationToken: Ct);
        var outcome = ShadowingJson.Deserialize<MirrorOutcome>(sidecar.State.Published.Single(e => e.Topic == Topics.ShadowOutcomes).Data);
        Assert.Equal((envelope.Id, "s1", "p1"), (outcome.RequestId, outcome.Copy.EndpointId, outcome.Production.EndpointId));
        Assert.Equal(DaprComponents.PubSub, sidecar.State.Published.Single(e => e.Topic == Topics.ShadowOutcomes).PubSubName);
    }

    [Fact]
    public async Task DaprAdapter_ExpiredEnvelope_DroppedBySidecarUndelivered()
    {
        // What the TTL buys on Dapr: daprd drops an envelope that waited past it (a subscriber that was down).
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var app = await LoopbackApp.StartAsync(null, a => a.MapPost("/events/mirror.orders", () => Microsoft.AspNetCore.Http.Results.Ok()));
        sidecar.State.PubSub.Subscribe("mirror.orders", new Uri(LoopbackApp.AddressOf(app), "/events/mirror.orders"), pubSubName: DaprComponents.QueuePubSub);
        using var dapr = sidecar.CreateClient();
        var bus = new DaprEventBus(dapr);

        await bus.PublishAsync(Topics.Mirror("orders"), Envelope("fresh", TimeProvider.System.GetUtcNow()), TimeSpan.FromMinutes(1), Ct);
        sidecar.State.PubSub.Publish(new PublishedEvent(DaprComponents.QueuePubSub, "mirror.orders", JsonSerializer.SerializeToUtf8Bytes(new { }), "application/json", TimeProvider.System.GetUtcNow().AddSeconds(-1)));

        await Eventually.WaitUntilAsync(() => sidecar.State.PubSub.Attempts.Count == 1 && sidecar.State.PubSub.Expired.Count == 1, "one delivered, one expired", cancellationToken: Ct);
    }

    private static double? Dropped(string metrics, string reason) =>
        PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", reason));

    private static MirroredRequest Envelope(string id, DateTimeOffset receivedAt) => new()
    {
        Id = id,
        Service = "orders",
        Method = "GET",
        Path = $"/items/{id}",
        ReceivedAt = receivedAt,
        Targets = ["s1"],
        Production = new EndpointAnswer("p1", 200, 1, 2, null),
        ExpiresAt = receivedAt.AddMinutes(10),
    };
}
