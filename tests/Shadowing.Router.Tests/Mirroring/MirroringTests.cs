using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Router.Metrics;
using Shadowing.Router.Mirroring;
using Shadowing.Router.Routing;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Mirroring;

/// <summary>The mirror through the real router: what reaches shadows, when, and what production never notices.</summary>
[Collection(nameof(RouterMetricsCollection))]
public sealed class MirroringTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Get_Mirrored_ShadowGetsACleanLinkedCopy_AndTheOutcomeIsPublished()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, StripHeaders = ["x-internal"], StripQuery = ["api_key"] })]);
        var outcomes = Collect(router);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items;jsessionid=J-1/1?api_key=k-1&page=2", UriKind.Relative));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "t-1");
        request.Headers.Add("Cookie", "session=c-1");
        request.Headers.Add("x-internal", "i-1");
        request.Headers.Add("x-functions-key", "f-1");
        request.Headers.Add("dapr-api-token", "d-1");
        request.Headers.Add("x-shadow-mirror", "1");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        using var response = await router.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Eventually.WaitUntilAsync(() => !s1.Received.IsEmpty && !outcomes.IsEmpty, "the copy and its outcome", cancellationToken: Ct);
        var copy = Assert.Single(s1.Received);
        Assert.Equal("GET", copy.Method);
        Assert.Equal("/items;jsessionid/1", copy.Path);
        Assert.Equal("?page=2", copy.Query);
        Assert.Equal("1", copy.Headers["x-shadow-mirror"]);
        foreach (var credential in new[] { "Authorization", "Cookie", "x-internal", "x-functions-key", "dapr-api-token" })
        {
            Assert.False(copy.Headers.ContainsKey(credential), credential);
        }

        var trace = copy.Headers["traceparent"].Split('-');
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", trace[1]);
        Assert.NotEqual("b7ad6b7169203331", trace[2]);

        // Production got the client's request, but never the client's own mirror marker.
        var original = Assert.Single(p1.Received);
        Assert.False(original.Headers.ContainsKey("x-shadow-mirror"));
        Assert.Equal("Bearer t-1", original.Headers["Authorization"]);
        Assert.Equal("/items;jsessionid=J-1/1", original.Path);

        var outcome = Assert.Single(outcomes);
        Assert.Equal(OutcomeKind.Shadow, outcome.Kind);
        Assert.Equal(("orders", "GET", "/items;jsessionid/1"), (outcome.Service, outcome.Method, outcome.Path));
        Assert.Equal(("p1", 200), (outcome.Production.EndpointId, outcome.Production.Status));
        Assert.Equal(("s1", 200), (outcome.Copy.EndpointId, outcome.Copy.Status));
        Assert.True(outcome.Compared);
        Assert.NotNull(outcome.Production.BodyDigest);
        Assert.NotEqual(outcome.Production.BodyDigest, outcome.Copy.BodyDigest);

        // The test backends answer their own name and the path and query they saw: exactly those differ.
        Assert.Equal(["$.endpoint", "$.path", "$.query"], outcome.DifferingPaths.Order());
    }

    [Theory]
    [InlineData("/orders/reset%3F?x=1", "/reset%3F?x=1")] // an encoded '?' is part of the path, not a query
    [InlineData("/orders/a%20b/%23frag", "/a%20b/%23frag")]
    [InlineData("/orders/items/a%2Fb", "/items/a%2Fb")] // an encoded slash stays one segment
    public async Task Copy_GoesToTheShadowEncodedAsProductionsForwardIs(string requested, string expected)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100 })]);

        using var response = await router.Client.GetAsync(new Uri(requested, UriKind.Relative), Ct);

        await Eventually.WaitUntilAsync(() => !s1.Received.IsEmpty, "the copy", cancellationToken: Ct);
        Assert.Equal(expected, Assert.Single(p1.Received).RawTarget);
        Assert.Equal(expected, Assert.Single(s1.Received).RawTarget);
    }

    [Fact]
    public async Task Copy_OfTheServicesBarePath_GoesToTheShadowsBaseAsProductionsForwardDoes()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        var table = With(p1, [(s1, false)], new MirrorPolicy { Percent = 100 });
        table = table with
        {
            Production = [table.Production[0] with { Address = p1.Address.ToString() + "base" }],
            Shadows = [table.Shadows[0] with { Address = s1.Address.ToString() + "base" }],
        };
        await using var router = await RouterHost.StartAsync([table]);

        using var response = await router.Client.GetAsync(new Uri("/orders?x=1", UriKind.Relative), Ct);

        await Eventually.WaitUntilAsync(() => s1.Received.Any(r => r.Query.Length > 0), "the copy", cancellationToken: Ct);
        Assert.Equal("/base?x=1", Assert.Single(p1.Received, r => r.Query.Length > 0).RawTarget); // not the probes of /base/healthz
        Assert.Equal("/base?x=1", Assert.Single(s1.Received, r => r.Query.Length > 0).RawTarget);
    }

    [Fact]
    public async Task IgnoredFields_LeftOutOfTheDifferences()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, IgnoreFields = ["endpoint", "$.query"] })]);
        var outcomes = Collect(router);

        using var response = await router.Client.GetAsync(new Uri("/orders/items?x=1", UriKind.Relative), Ct);

        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the outcome", cancellationToken: Ct);
        Assert.Empty(Assert.Single(outcomes).DifferingPaths);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    public async Task CompressedAnswers_AreComparedByWhatTheySay_NotByTheirBytes(string coding)
    {
        // Production and shadow compress at different levels and differ in one field: the copy differs at that field.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        (p1.Compression, s1.Compression) = (coding, coding);
        (p1.CompressionLevel, s1.CompressionLevel) = (System.IO.Compression.CompressionLevel.SmallestSize, System.IO.Compression.CompressionLevel.NoCompression);
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100 })]);
        var outcomes = Collect(router);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items?x=1", UriKind.Relative));
        request.Headers.Add("Accept-Encoding", coding);

        using var response = await router.Client.SendAsync(request, Ct);

        Assert.Equal(coding, Assert.Single(response.Content.Headers.ContentEncoding)); // the client got production's answer as it was
        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the outcome", cancellationToken: Ct);
        var outcome = Assert.Single(outcomes);
        Assert.True(outcome.Compared);
        Assert.Equal(["$.endpoint"], outcome.DifferingPaths);
    }

    [Fact]
    public async Task RandomizedRequests_NoCredentialReachesAShadow_AndNoWriteReachesAShadowOnSharedData()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shared = await TestBackend.StartAsync("shared");
        await using var isolated = await TestBackend.StartAsync("isolated");
        var policy = new MirrorPolicy
        {
            Percent = 100,
            Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"],
            StripHeaders = ["x-api-key"],
            StripQuery = ["api_key", "token"],
            StripJsonFields = ["password", "card.number"],
        };
        await using var router = await RouterHost.StartAsync([With(p1, [(shared, false), (isolated, true)], policy)]);
        var random = RandomSource.Seeded(42);
        string[] methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];
        string[] credentials = ["Authorization", "Proxy-Authorization", "Cookie", "dapr-api-token", "x-functions-key", "x-api-key"];
        var safe = 0;
        const int Requests = 150;
        for (var i = 0; i < Requests; i++)
        {
            var method = methods[random.Next(methods.Length)];
            safe += method is "GET" or "HEAD" ? 1 : 0;
            var secret = $"secret-{i}";
            var query = random.Next(2) == 0 ? $"?api_key={secret}&page={i}" : $"?page={i}&token={secret}";
            using var request = new HttpRequestMessage(new HttpMethod(method), new Uri($"/orders/items/{i}{query}", UriKind.Relative));
            foreach (var name in credentials.Where(_ => random.Next(3) > 0))
            {
                request.Headers.TryAddWithoutValidation(RandomCase(name, random), name == "Authorization" ? $"Bearer {secret}" : secret);
            }

            request.Headers.TryAddWithoutValidation(RandomCase("dapr-app-id", random), secret);
            if (method is not ("GET" or "HEAD"))
            {
                request.Content = new StringContent($$$"""{"item":{{{i}}},"password":"{{{secret}}}","card":{"number":"{{{secret}}}","expiry":"12/30"}}""", Encoding.UTF8, "application/json");
            }

            using var response = await router.Client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.WaitUntilAsync(() => shared.Received.Count == safe && isolated.Received.Count == Requests, $"{safe} copies to the shared-data shadow and {Requests} to the isolated one", cancellationToken: Ct);
        Assert.All(shared.Received, r => Assert.Contains(r.Method, new[] { "GET", "HEAD" }));
        foreach (var copy in shared.Received.Concat(isolated.Received))
        {
            Assert.DoesNotContain("secret-", copy.Query, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-", copy.Body, StringComparison.Ordinal);
            Assert.All(copy.Headers, h => Assert.DoesNotContain("secret-", h.Value, StringComparison.Ordinal));
        }

        // The writes kept what was not to be removed, and production saw every secret: the test would see a leak.
        Assert.Contains(isolated.Received, r => r.Body.Contains("\"expiry\":\"12/30\"", StringComparison.Ordinal));
        Assert.Equal(Requests, p1.Received.Count(r => r.Query.Contains("secret-", StringComparison.Ordinal)));
        Assert.Contains(p1.Received, r => r.Body.Contains("secret-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HungShadow_NoProductionRequestFails_AndTheFullQueueDropsAndCounts()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var hung = await TestBackend.StartAsync("hung");
        hung.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var router = await RouterHost.StartAsync(
            [With(p1, [(hung, false)], new MirrorPolicy { Percent = 100, Timeout = TimeSpan.FromMinutes(5) })],
            new Dictionary<string, string?> { ["Router:Mirroring:QueueCapacity"] = "4", ["Router:Mirroring:Senders"] = "1" }); // one sender: all of it the shadow's share
        var dispatcher = router.App.Services.GetRequiredService<MirrorDispatcher>();
        const int Requests = 200;
        var failed = 0;
        var maxQueued = 0;

        try
        {
            await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (i, ct) =>
            {
                using var response = await router.Client.GetAsync(new Uri($"/orders/items/{i}", UriKind.Relative), ct);
                if (response.StatusCode != HttpStatusCode.OK || (await Table.ReadAsync(response)).Answer.Endpoint != "p1")
                {
                    Interlocked.Increment(ref failed);
                }

                InterlockedMax(ref maxQueued, dispatcher.Queued);
            });

            Assert.Equal(0, failed);
            Assert.Equal(Requests, p1.Requests);
            Assert.InRange(maxQueued, 0, 4);

            // One copy is stuck at the shadow, four wait: every other one was dropped, and counted. A copy is queued as its
            // response completes, which can come just after the client has read it.
            await Eventually.WaitUntilAsync(
                async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "queue_full")) == Requests - 1 - 4,
                "every copy beyond the one in flight and the four queued dropped",
                cancellationToken: Ct);
            var metrics = await router.MetricsAsync();
            Assert.Equal(1, hung.InFlight);
            Assert.Equal(Requests, PrometheusText.Value(metrics, "shadowing_mirror_decisions_total", ("service", "orders"), ("result", "mirrored")));
        }
        finally
        {
            hung.Gate.TrySetResult();
        }
    }

    [Theory]
    [InlineData("/items/long", false)] // a body under maxBodyBytes still coming at the timeout: trickling or hung
    [InlineData("/items/large", true)] // a body past maxBodyBytes that then never ends: read no further than can be compared
    public async Task ShadowAnswerWhoseBodyNeverEnds_IsNoAnswerUnderTheCap_AndJudgedOnItsStatusPastIt(string path, bool overflows)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await LoopbackApp.StartAsync(null, app => app.Run(async context =>
        {
            context.Response.StatusCode = 200;
            await context.Response.Body.WriteAsync(new byte[context.Request.Path.Value!.EndsWith("large", StringComparison.Ordinal) ? 4096 : 16], context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, context.RequestAborted); // the rest never comes
        }));
        var table = With(p1, [], new MirrorPolicy { Percent = 100, Timeout = TimeSpan.FromSeconds(1), MaxBodyBytes = 1024 }) with
        {
            Shadows = [new ShadowEndpoint { Id = "slow-body", Address = LoopbackApp.AddressOf(shadow).ToString(), State = ShadowState.WarmingUp }],
        };
        await using var router = await RouterHost.StartAsync([table]);
        var outcomes = Collect(router);

        using var response = await router.Client.GetAsync(new Uri("/orders" + path, UriKind.Relative), Ct);
        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the copy's outcome", cancellationToken: Ct);

        var copy = Assert.Single(outcomes).Copy;
        Assert.Null(copy.BodyDigest);
        Assert.Equal(overflows ? (200, false) : (0, true), (copy.Status, copy.TimedOut));
    }

    [Theory]
    [InlineData("gzip", 16, true)] // plain bytes labelled gzip: no client could read it
    [InlineData(null, 2048, true)] // longer than production's whole answer could be (maxBodyBytes 1024)
    [InlineData("zstd", 16, false)] // a coding the router cannot undo: not compared, not judged different
    public async Task ShadowAnswerThatCannotBeReadOrIsTooLong_DiffersWhole_AnUnknownCodingIsNotCompared(string? coding, int length, bool compared)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await LoopbackApp.StartAsync(null, app => app.Run(context =>
        {
            if (coding is not null)
            {
                context.Response.Headers.ContentEncoding = coding;
            }

            return context.Response.Body.WriteAsync(new byte[length], context.RequestAborted).AsTask();
        }));
        var table = With(p1, [], new MirrorPolicy { Percent = 100, MaxBodyBytes = 1024 }) with
        {
            Shadows = [new ShadowEndpoint { Id = "garbled", Address = LoopbackApp.AddressOf(shadow).ToString(), State = ShadowState.WarmingUp }],
        };
        await using var router = await RouterHost.StartAsync([table]);
        var outcomes = Collect(router);

        using var response = await router.Client.GetAsync(new Uri("/orders/items/1", UriKind.Relative), Ct);
        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the copy's outcome", cancellationToken: Ct);

        var outcome = Assert.Single(outcomes);
        Assert.Equal((200, compared), (outcome.Copy.Status, outcome.Compared));
        Assert.Equal(compared ? ["$"] : [], outcome.DifferingPaths);
    }

    [Fact]
    public async Task SlowShadowThatStillAnswers_HoldsAtMostItsShareOfTheSenders_AnotherServicesShadowGetsItsCopies()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var slow = await TestBackend.StartAsync("slow");
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var fast = await TestBackend.StartAsync("fast");
        slow.Delay = TimeSpan.FromSeconds(2); // answers every copy, well within the timeout: never stalled
        var policy = new MirrorPolicy { Percent = 100, Timeout = TimeSpan.FromSeconds(10) };
        await using var router = await RouterHost.StartAsync(
            [With(p1, [(slow, false)], policy), With(b1, [(fast, false)], policy) with { Service = "billing" }],
            new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "2" });

        using var orders = new CancellationTokenSource();
        var load = KeepSendingAsync(router, "orders", orders.Token);
        await Eventually.WaitUntilAsync(
            async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "target_busy")) > 0,
            "orders' copies beyond the slow shadow's share shed",
            cancellationToken: Ct);

        // Before, both senders waited on the slow shadow's copies back to back, and billing's queued behind hundreds of them.
        await SendAsync(router, "billing", 20);

        await Eventually.WaitUntilAsync(() => fast.Received.Count == 20, "billing's twenty copies at its shadow", TimeSpan.FromSeconds(10), Ct);
        await orders.CancelAsync();
        await load;
        Assert.Equal(0, PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "billing"), ("reason", "queue_full")) ?? 0);
    }

    [Fact]
    public async Task HungShadowOfOneService_OnceStalled_LeavesTheSendersToAnotherServicesShadow_AndStillGetsCopiesToTimeOut()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var hung = await TestBackend.StartAsync("hung");
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var fast = await TestBackend.StartAsync("fast");
        hung.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var policy = new MirrorPolicy { Percent = 100, Timeout = TimeSpan.FromSeconds(1) };
        await using var router = await RouterHost.StartAsync(
            [With(p1, [(hung, false)], policy), With(b1, [(fast, false)], policy) with { Service = "billing" }],
            new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "2" });
        var outcomes = Collect(router);

        try
        {
            // Orders keeps sending: its shadow takes every copy and answers none.
            using var orders = new CancellationTokenSource();
            var load = KeepSendingAsync(router, "orders", orders.Token);
            await Eventually.WaitUntilAsync(
                async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "target_stalled")) > 0,
                "the hung shadow stalled after three timeouts in a row",
                cancellationToken: Ct);

            // Before stalled shadows got one copy at a time, both senders waited out the hung shadow's copies back to
            // back, and billing's copies queued behind them (or were dropped on a full queue).
            await SendAsync(router, "billing", 20);

            await Eventually.WaitUntilAsync(() => fast.Received.Count == 20, "billing's twenty copies at its shadow", TimeSpan.FromSeconds(10), Ct);

            // The stalled shadow still gets a copy at a time, each a timeout for validation to judge.
            await Eventually.WaitUntilAsync(() => outcomes.Count(o => o.Copy.EndpointId == "hung" && o.Copy.TimedOut) >= 4, "a fourth copy timed out once stalled", cancellationToken: Ct);

            // One copy at a time while orders keeps sending: two show only for the moment one is aborted as the next
            // arrives, so at most a few of twenty looks 50 ms apart see them (both senders on it would show two in most).
            var crowded = 0;
            for (var i = 0; i < 20; i++)
            {
                crowded += hung.InFlight > 1 ? 1 : 0;
                await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, Ct);
            }

            await orders.CancelAsync();
            await load;
            Assert.InRange(crowded, 0, 3);
            var timeouts = outcomes.Count(o => o.Copy.EndpointId == "hung" && o.Copy.TimedOut);

            // Copies not sent to it are failures for validation too: it fails at the rate it is mirrored to.
            await Eventually.WaitUntilAsync(
                async () =>
                {
                    var unsent = outcomes.Count(o => o.Copy.EndpointId == "hung" && o.Copy.Status == 0 && o.Copy.Error!.StartsWith("not sent", StringComparison.Ordinal));
                    return unsent > 0 && unsent == PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "target_stalled"));
                },
                "every copy not sent to the stalled shadow published as a failed outcome",
                cancellationToken: Ct);

            // In its minute records they count as the timeout the copies before them took, not as answers in 0 ms.
            await router.App.Services.GetRequiredService<MinuteRecorder>().FlushAsync(DateTimeOffset.MaxValue, Ct);
            var minutes = await MinutesAsync(router, "hung");
            Assert.True(minutes.Sum(m => m.Mirror?.Requests ?? 0) > timeouts);
            Assert.Equal(0, minutes.Sum(m => m.Mirror?.LatencyBuckets.Take(LatencyHistogram.BucketOf(500)).Sum() ?? 0));

            // Once it answers again, its next copy ends the stall and it gets every copy.
            hung.Gate.TrySetResult();
            await Eventually.WaitUntilAsync(
                async () =>
                {
                    using var response = await router.Client.GetAsync(new Uri("/orders/items/probe", UriKind.Relative), Ct);
                    return outcomes.Any(o => o.Copy.EndpointId == "hung" && o.Copy.Status == 200);
                },
                "a copy answered by the recovered shadow",
                cancellationToken: Ct);
            // Ten at once, each copy held 200 ms: a target that answers gets what its share of the senders allows and sheds
            // the rest as busy; a stalled one would get one and publish the others as "not sent".
            hung.Delay = TimeSpan.FromMilliseconds(200);
            await Eventually.WaitUntilAsync(() => hung.InFlight == 0, "the probes' copies answered", cancellationToken: Ct);
            double Dropped(string metrics, string reason) => PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", reason)) ?? 0;
            var before = await router.MetricsAsync();
            await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
            {
                using var response = await router.Client.GetAsync(new Uri($"/orders/items/after-{i}", UriKind.Relative), Ct);
            }));

            MirrorOutcome[] after = [];
            await Eventually.WaitUntilAsync(
                async () =>
                {
                    after = [.. outcomes.Where(o => o.Copy.EndpointId == "hung" && o.Path.StartsWith("/items/after-", StringComparison.Ordinal))];
                    return after.Length + Dropped(await router.MetricsAsync(), "target_busy") - Dropped(before, "target_busy") == 10;
                },
                "the ten copies after recovery sent or shed",
                cancellationToken: Ct);
            Assert.Equal(Dropped(before, "target_stalled"), Dropped(await router.MetricsAsync(), "target_stalled"));
            Assert.All(after, o => Assert.False(o.Copy.Error?.StartsWith("not sent", StringComparison.Ordinal) ?? false, o.Copy.Error));
        }
        finally
        {
            hung.Gate.TrySetResult();
        }
    }

    [Fact]
    public async Task ClientHangsUpBeforeProductionAnswers_NoCopy_CountedAsClientAborted()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        p1.Delay = TimeSpan.FromSeconds(1);
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100 })]);
        var outcomes = Collect(router);

        using (var hangUp = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            hangUp.CancelAfter(TimeSpan.FromMilliseconds(200));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => router.Client.GetAsync(new Uri("/orders/items/1", UriKind.Relative), hangUp.Token));
        }

        await Eventually.WaitUntilAsync(
            async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "client_aborted")) == 1,
            "the abandoned request's copy dropped as client_aborted",
            cancellationToken: Ct);

        // A request the client waits for is still mirrored.
        p1.Delay = TimeSpan.Zero;
        using var response = await router.Client.GetAsync(new Uri("/orders/items/2", UriKind.Relative), Ct);
        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the next request's outcome", cancellationToken: Ct);
        Assert.Equal("/items/2", Assert.Single(s1.Received).Path);
        Assert.Equal(200, Assert.Single(outcomes).Production.Status);
    }

    [Fact]
    public async Task ProductionAnswersAStream_TheClientDidNotAskForByItsHeaders_NoCopy_CountedAsStreaming()
    {
        // A fetch-based event stream sends no Accept: text/event-stream; only production's answer says it is one. A copy
        // would be a plain request the shadow holds open until it times out, failing a healthy shadow's validation.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        p1.ContentType = "text/event-stream";
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100 })]);
        var outcomes = Collect(router);

        using (var streamed = await router.Client.GetAsync(new Uri("/orders/events", UriKind.Relative), Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, streamed.StatusCode);
        }

        await Eventually.WaitUntilAsync(
            async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "streaming")) == 1,
            "the stream's copy dropped as streaming",
            cancellationToken: Ct);

        p1.ContentType = "application/json";
        using var response = await router.Client.GetAsync(new Uri("/orders/items/2", UriKind.Relative), Ct);
        await Eventually.WaitUntilAsync(() => !outcomes.IsEmpty, "the next request's outcome", cancellationToken: Ct);
        Assert.Equal("/items/2", Assert.Single(s1.Received).Path);
    }

    [Fact]
    public async Task ShadowWhoseAddressTakesNoConnections_StalledByItsConnectTimeouts_AsAHungOneIs()
    {
        // A stopped VM or a firewall that drops packets: every copy held a sender for the whole connect timeout, and since
        // that is not the copy's own timeout, the run of timeouts restarted each time and the shadow was never stalled.
        using var nowhere = await UnacceptingListener.StartAsync();
        await using var p1 = await TestBackend.StartAsync("p1");
        var table = With(p1, [], new MirrorPolicy { Percent = 100 }) with
        {
            Shadows = [new ShadowEndpoint { Id = "nowhere", Address = nowhere.Address.ToString(), State = ShadowState.WarmingUp }],
        };
        await using var router = await RouterHost.StartAsync(
            [table],
            new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "2", ["Router:Forwarding:ConnectTimeout"] = "00:00:00.300" });

        await Eventually.WaitUntilAsync(
            async () =>
            {
                using var response = await router.Client.GetAsync(new Uri("/orders/items/1", UriKind.Relative), Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "target_stalled")) > 0;
            },
            "the unreachable shadow stalled after three connect timeouts in a row",
            TimeSpan.FromSeconds(20),
            Ct);
    }

    [Fact]
    public async Task LargeBodiesBehindAHungShadow_HeldWithinTheMemoryBudget_TheRestDroppedAsMemoryLimit_AndAllGivenBack()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var hung = await TestBackend.StartAsync("hung");
        hung.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const long Budget = 1 << 20;
        await using var router = await RouterHost.StartAsync(
            [With(p1, [(hung, true)], new MirrorPolicy { Percent = 100, Methods = ["POST"], MaxBodyBytes = 512 * 1024, Timeout = TimeSpan.FromMinutes(5) })],
            new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "1", ["Router:Mirroring:MaxBufferedBytes"] = Budget.ToString(CultureInfo.InvariantCulture) });
        var dispatcher = router.App.Services.GetRequiredService<MirrorDispatcher>();
        const int Requests = 40;
        var body = new string('x', 100_000);
        var failed = 0;
        long maxHeld = 0;

        try
        {
            await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = Ct }, async (i, ct) =>
            {
                using var content = new StringContent(body, Encoding.UTF8, "text/plain");
                using var response = await router.Client.PostAsync(new Uri($"/orders/items/{i}", UriKind.Relative), content, ct);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failed);
                }

                InterlockedMax(ref maxHeld, dispatcher.Memory.Held);
            });

            Assert.Equal(0, failed);
            Assert.Equal(Requests, p1.Requests);
            Assert.InRange(maxHeld, 1, Budget);

            // The queue (1,000) had room for every copy: what is not held, at the shadow or queued, was dropped for memory.
            await Eventually.WaitUntilAsync(
                async () =>
                {
                    var dropped = PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "memory_limit")) ?? 0;
                    return dropped > 0 && dropped + dispatcher.Queued + hung.InFlight == Requests;
                },
                "every copy held or dropped as memory_limit",
                cancellationToken: Ct);
            Assert.InRange(dispatcher.Memory.Held, 1, Budget);
            Assert.InRange(PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_buffered_bytes") ?? 0, 1, Budget);
        }
        finally
        {
            hung.Gate.TrySetResult();
        }

        await Eventually.WaitUntilAsync(() => dispatcher.Queued == 0 && hung.InFlight == 0 && dispatcher.Memory.Held == 0, "every held body given back", cancellationToken: Ct);
    }

    [Theory]
    [InlineData(MirrorTransport.Direct)]
    [InlineData(MirrorTransport.PubSub)]
    public async Task AGetTunnellingADelete_GoesOnlyToTheShadowWithItsOwnData_AsTheGetProductionGot(MirrorTransport transport)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shared = await TestBackend.StartAsync("shared");
        await using var isolated = await TestBackend.StartAsync("isolated");
        await using var router = await RouterHost.StartAsync([With(p1, [(shared, false), (isolated, true)], new MirrorPolicy { Percent = 100, Methods = ["GET", "DELETE"], Transport = transport })]);
        if (transport == MirrorTransport.PubSub)
        {
            await Eventually.WaitUntilAsync(() => router.App.Services.GetRequiredService<MirrorReplayer>().Subscribed.Count == 1, "the replayer subscribed", cancellationToken: Ct);
        }

        using var tunnelled = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items/1", UriKind.Relative));
        tunnelled.Headers.Add("X-HTTP-Method-Override", "DELETE");
        using var plain = new HttpRequestMessage(HttpMethod.Get, new Uri("/orders/items/2", UriKind.Relative));
        (await router.Client.SendAsync(tunnelled, Ct)).Dispose();
        (await router.Client.SendAsync(plain, Ct)).Dispose();

        await Eventually.WaitUntilAsync(() => isolated.Received.Count == 2 && shared.Received.Count == 1, "both copies at the isolated shadow, the plain one at the shared", cancellationToken: Ct);
        Assert.Equal("/items/2", Assert.Single(shared.Received).Path);
        var copy = Assert.Single(isolated.Received, r => r.Path == "/items/1");
        Assert.Equal(("GET", "DELETE"), (copy.Method, copy.Headers["X-HTTP-Method-Override"]));
    }

    [Fact]
    public async Task Http2BodyWithoutALength_ReachesProductionAndTheShadowWhole()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var isolated = await TestBackend.StartAsync("isolated");
        await using var router = await RouterHost.StartAsync(
            [With(p1, [(isolated, true)], new MirrorPolicy { Percent = 100, Methods = ["POST"] })],
            http2Only: true);
        using var http2 = new HttpClient { BaseAddress = router.Client.BaseAddress, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        // HTTP/2 frames a body without Content-Length or Transfer-Encoding: only Kestrel's body detection knows of it.
        using var content = new ChunkedContent(Encoding.UTF8.GetBytes("{\"qty\":3}"));
        using var response = await http2.PostAsync(new Uri("/orders/items", UriKind.Relative), content, Ct);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"qty\":3}", Assert.Single(p1.Received).Body);
        await Eventually.WaitUntilAsync(() => !isolated.Received.IsEmpty, "the copy", cancellationToken: Ct);
        Assert.Equal("{\"qty\":3}", Assert.Single(isolated.Received).Body);
    }

    [Fact]
    public async Task QueuedWrites_ToAShadowThatLostItsOwnDataSince_AreNotSent()
    {
        // One sender, held by the first copy: the next writes wait in the queue while the shadow's entry loses
        // dataIsolated. They go by the table as it is when they are sent, not as it was when they arrived.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var isolated = await TestBackend.StartAsync("isolated");
        isolated.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var table = With(p1, [(isolated, true)], new MirrorPolicy { Percent = 100, Methods = ["POST"], SecondaryShare = 0 });
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "1" });
        var dispatcher = router.App.Services.GetRequiredService<MirrorDispatcher>();

        for (var i = 0; i < 4; i++)
        {
            using var response = await router.Client.PostAsync(new Uri($"/orders/items/{i}", UriKind.Relative), new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.WaitUntilAsync(() => isolated.InFlight == 1 && dispatcher.Queued == 3, "one write at the shadow, three queued", cancellationToken: Ct);
        await new RoutingTableStore(router.Store, router.Bus).PutAsync(table with { Shadows = [table.Shadows[0] with { DataIsolated = false }] }, Ct);
        var cache = router.App.Services.GetRequiredService<RoutingTableCache>();
        await Eventually.WaitUntilAsync(() => cache.Current.Services["orders"].Mirror is null or { IsolatedTargets.Count: 0 }, "the router saw the change", cancellationToken: Ct);
        isolated.Gate.TrySetResult();

        await Eventually.WaitUntilAsync(() => dispatcher.Queued == 0 && isolated.InFlight == 0, "the queue drained", cancellationToken: Ct);
        await Eventually.WaitUntilAsync(
            async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "no_target")) == 3,
            "the three queued writes dropped and counted",
            cancellationToken: Ct);
        Assert.Equal(1, isolated.Requests);
    }

    [Fact]
    public async Task FailedOverRequest_MirroredOnce_AgainstTheEndpointThatAnswered()
    {
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        // Bound but not listening: connections are refused.
        using var deadSocket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        deadSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var dead = new ProductionEndpoint { Id = "dead", Address = $"http://127.0.0.1:{((IPEndPoint)deadSocket.LocalEndPoint!).Port}", MaxConcurrency = 100 };
        // No production-noise copies: with two production endpoints they would add outcomes at random.
        var table = With(p2, [(s1, false)], new MirrorPolicy { Percent = 100, SecondaryShare = 0 });
        table = table with { Production = [dead, .. table.Production] };
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Interval"] = "00:01:00", ["Router:OutlierDetection:ConsecutiveFailures"] = "1000" });
        var outcomes = Collect(router);
        const int Requests = 20;

        for (var i = 0; i < Requests; i++)
        {
            using var response = await router.Client.GetAsync(new Uri($"/orders/items/{i}", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.WaitUntilAsync(() => outcomes.Count == Requests, $"{Requests} outcomes", cancellationToken: Ct);
        var metrics = await router.MetricsAsync();
        Assert.True(PrometheusText.Value(metrics, "shadowing_router_requests_total", ("endpoint", "dead")) > 0, "some requests failed over from the dead endpoint");
        Assert.Equal(Requests, s1.Received.Count);
        Assert.Equal(Enumerable.Range(0, Requests).Select(i => $"/items/{i}"), s1.Received.Select(r => r.Path).OrderBy(p => int.Parse(p[7..], CultureInfo.InvariantCulture)));
        Assert.All(outcomes, o => Assert.Equal("p2", o.Production.EndpointId));
    }

    [Fact]
    public async Task Bodies_TeedIntoTheCopy_AndOneOverTheCapIsNotMirroredButCounted()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, true)], new MirrorPolicy { Percent = 100, Methods = ["POST"], MaxBodyBytes = 1024 })]);
        var small = "{\"n\":\"" + new string('a', 500) + "\"}";
        var large = "{\"n\":\"" + new string('b', 5000) + "\"}";

        using (var response = await router.Client.PostAsync(new Uri("/orders/small", UriKind.Relative), new StringContent(small, Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var response = await router.Client.PostAsync(new Uri("/orders/large", UriKind.Relative), new StringContent(large, Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // No Content-Length: the cap is found while production's forward streams it.
        using (var chunked = new HttpRequestMessage(HttpMethod.Post, new Uri("/orders/chunked", UriKind.Relative)) { Content = new ChunkedContent(Encoding.UTF8.GetBytes(large)) })
        using (var response = await router.Client.SendAsync(chunked, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(large, (await Table.ReadAsync(response)).Answer.Body);
        }

        await Eventually.WaitUntilAsync(() => !s1.Received.IsEmpty, "the small body's copy", cancellationToken: Ct);
        var metrics = await router.MetricsAsync();
        Assert.Equal(1, PrometheusText.Value(metrics, "shadowing_mirror_decisions_total", ("service", "orders"), ("result", "body_too_large")));
        Assert.Equal(1, PrometheusText.Value(metrics, "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "body_too_large")));
        var copy = Assert.Single(s1.Received);
        Assert.Equal(("/small", small), (copy.Path, copy.Body));
        Assert.Equal(3, p1.Requests);
    }

    [Fact]
    public async Task MirroredTraffic_InTheShadowsMirrorMinutes_NeverInProductionsRecordsOrHealth()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var s1 = await TestBackend.StartAsync("s1");
        s1.StatusCode = 500; // copies fail; the shadow's probes stay healthy
        await using var router = await RouterHost.StartAsync([With(p1, [(s1, false)], new MirrorPolicy { Percent = 100 })]);
        var outcomes = Collect(router);
        const int Requests = 12;

        for (var i = 0; i < Requests; i++)
        {
            using var response = await router.Client.GetAsync(new Uri("/orders/items", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.WaitUntilAsync(() => outcomes.Count == Requests, "every outcome", cancellationToken: Ct);
        await router.App.Services.GetRequiredService<MinuteRecorder>().FlushAsync(DateTimeOffset.MaxValue, Ct);

        var production = await MinutesAsync(router, "p1");
        var shadow = await MinutesAsync(router, "s1");
        Assert.Equal(Requests, production.Sum(m => m.Requests));
        Assert.All(production, m => Assert.Null(m.Mirror));
        Assert.Equal(0, shadow.Sum(m => m.Requests));
        Assert.Equal(Requests, shadow.Sum(m => m.Mirror?.Requests ?? 0));
        Assert.Equal(Requests, shadow.Sum(m => m.Mirror?.Errors ?? 0));
        Assert.Equal(Requests, shadow.Sum(m => m.Mirror?.Differing ?? 0));

        // Twelve failed copies in a row would eject an endpoint after three forwarded failures; the shadow stays in.
        Assert.True(await router.IsAvailableAsync("s1"));
        Assert.True(await router.IsAvailableAsync("p1"));
    }

    [Fact]
    public async Task SecondaryShare_SendsTheCopyToAnotherProductionEndpoint_AsProductionNoise()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        var table = With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, SecondaryShare = 1 });
        table = table with { Production = [.. table.Production, new ProductionEndpoint { Id = "p2", Address = p2.Address.ToString(), MaxConcurrency = 100 }] };
        await using var router = await RouterHost.StartAsync([table]);
        var outcomes = Collect(router);

        using var response = await router.Client.GetAsync(new Uri("/orders/items", UriKind.Relative), Ct);
        var served = (await Table.ReadAsync(response)).Answer.Endpoint;

        await Eventually.WaitUntilAsync(() => outcomes.Count == 2, "the shadow's and the noise outcome", cancellationToken: Ct);
        var noise = Assert.Single(outcomes, o => o.Kind == OutcomeKind.ProductionNoise);
        Assert.Equal(served, noise.Production.EndpointId);
        Assert.Equal(served == "p1" ? "p2" : "p1", noise.Copy.EndpointId);
        Assert.Equal(["$.endpoint"], noise.DifferingPaths);
        Assert.Single(outcomes, o => o.Kind == OutcomeKind.Shadow && o.Copy.EndpointId == "s1");

        // The noise copy is a copy: it is nowhere in the second endpoint's production records.
        await router.App.Services.GetRequiredService<MinuteRecorder>().FlushAsync(DateTimeOffset.MaxValue, Ct);
        var other = await MinutesAsync(router, served == "p1" ? "p2" : "p1");
        Assert.Equal(0, other.Sum(m => m.Requests));
        Assert.All(other, m => Assert.Null(m.Mirror));
    }

    [Fact]
    public async Task SecondaryShare_NeverLoadsAProductionEndpointTheRouterHasTakenOutOfService()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        p2.Healthy = false;
        var table = With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, SecondaryShare = 1 });
        table = table with { Production = [.. table.Production, new ProductionEndpoint { Id = "p2", Address = p2.Address.ToString(), MaxConcurrency = 100 }] };
        await using var router = await RouterHost.StartAsync([table]);
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p2"), "p2 out of service", cancellationToken: Ct);
        var outcomes = Collect(router);

        for (var i = 0; i < 10; i++)
        {
            using var response = await router.Client.GetAsync(new Uri($"/orders/items/{i}", UriKind.Relative), Ct);
            Assert.Equal("p1", (await Table.ReadAsync(response)).Answer.Endpoint);
        }

        await Eventually.WaitUntilAsync(() => s1.Received.Count == 10, "the ten copies", cancellationToken: Ct);
        Assert.Equal(0, p2.Requests);
        Assert.DoesNotContain(outcomes, o => o.Kind == OutcomeKind.ProductionNoise);
    }

    [Fact]
    public async Task SecondaryShare_NeverTakesAProductionEndpointPastItsMaxConcurrency()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        var table = With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, SecondaryShare = 1 });
        table = table with { Production = [.. table.Production, new ProductionEndpoint { Id = "p2", Address = p2.Address.ToString(), MaxConcurrency = 1 }] };
        await using var router = await RouterHost.StartAsync([table]);
        var outcomes = Collect(router);

        // p2's one slot taken, as by a client's request in flight: the router serves from p1, and p2 gets no copy on top.
        var p2Runtime = router.App.Services.GetRequiredService<RoutingTableCache>().Current.Services["orders"].Production.Single(p => p.Id == "p2").Runtime;
        Assert.True(p2Runtime.TryEnter(1));
        for (var i = 0; i < 5; i++)
        {
            using var response = await router.Client.GetAsync(new Uri($"/orders/items/{i}", UriKind.Relative), Ct);
            Assert.Equal("p1", (await Table.ReadAsync(response)).Answer.Endpoint);
        }

        await Eventually.WaitUntilAsync(
            async () => PrometheusText.Value(await router.MetricsAsync(), "shadowing_mirror_dropped_total", ("service", "orders"), ("reason", "production_busy")) == 5,
            "the five noise copies dropped as production_busy",
            cancellationToken: Ct);
        Assert.Equal(0, p2.Requests);
        Assert.DoesNotContain(outcomes, o => o.Kind == OutcomeKind.ProductionNoise);

        // With its slot free again, the next copy goes.
        p2Runtime.Exit();
        (await router.Client.GetAsync(new Uri("/orders/items/free", UriKind.Relative), Ct)).Dispose();

        await Eventually.WaitUntilAsync(() => outcomes.Any(o => o.Kind == OutcomeKind.ProductionNoise), "a noise outcome once p2 has room", cancellationToken: Ct);
        await Eventually.WaitUntilAsync(() => p2Runtime.InFlight == 0, "the copy's slot given back", cancellationToken: Ct);
    }

    [Fact]
    public async Task SecondaryShare_QueuedCopies_NeverGoToAProductionEndpointRemovedSince()
    {
        // One sender, held by the first copy at the shadow; the next copies wait in the queue while p2 leaves the table.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var p2 = await TestBackend.StartAsync("p2");
        await using var s1 = await TestBackend.StartAsync("s1");
        s1.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var table = With(p1, [(s1, false)], new MirrorPolicy { Percent = 100, SecondaryShare = 1 });
        table = table with { Production = [.. table.Production, new ProductionEndpoint { Id = "p2", Address = p2.Address.ToString(), MaxConcurrency = 100 }] };
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:Mirroring:Senders"] = "1" });
        var dispatcher = router.App.Services.GetRequiredService<MirrorDispatcher>();
        // Ties between idle endpoints are broken at random: send until a queued copy was served by p1, so its second
        // endpoint is p2 (a fixed count of requests all lands on p2 now and then).
        var served = new List<string>();
        for (var i = 0; i < 6 || !served.Skip(1).Contains("p1"); i++)
        {
            Assert.True(i < 200, "200 requests and none after the first served by p1");
            using var response = await router.Client.GetAsync(new Uri($"/orders/items/{i}", UriKind.Relative), Ct);
            served.Add((await Table.ReadAsync(response)).Answer.Endpoint);
        }

        await Eventually.WaitUntilAsync(() => s1.InFlight == 1 && dispatcher.Queued == served.Count - 1, "one copy at the shadow, the rest queued", cancellationToken: Ct);
        await new RoutingTableStore(router.Store, router.Bus).PutAsync(table with { Production = [table.Production[0]] }, Ct);
        var cache = router.App.Services.GetRequiredService<RoutingTableCache>();
        await Eventually.WaitUntilAsync(() => cache.Current.Services["orders"].Production.Count == 1, "the router saw the change", cancellationToken: Ct);
        var before = p2.Requests;
        s1.Gate.TrySetResult();

        await Eventually.WaitUntilAsync(() => dispatcher.Queued == 0 && s1.Received.Count == served.Count, "the queue drained", cancellationToken: Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, Ct);
        Assert.Equal(before, p2.Requests);
    }

    /// <summary>Sends GETs to <paramref name="service"/> every 20 ms until <paramref name="stop"/>, each answered 200.</summary>
    private static Task KeepSendingAsync(RouterHost router, string service, CancellationToken stop) => Task.Run(async () =>
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            using var response = await router.Client.GetAsync(new Uri($"/{service}/items/{i}", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, Ct);
        }
    });

    /// <summary>Sends <paramref name="count"/> GETs to <paramref name="service"/> one after another, each answered 200.</summary>
    private static async Task SendAsync(RouterHost router, string service, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await router.Client.GetAsync(new Uri($"/{service}/items/{i}", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    internal static RoutingTable With(TestBackend production, IEnumerable<(TestBackend Backend, bool Isolated)> shadows, MirrorPolicy policy) => new()
    {
        Service = "orders",
        Production = [new ProductionEndpoint { Id = production.Name, Address = production.Address.ToString(), MaxConcurrency = 100 }],
        Shadows = [.. shadows.Select(s => new ShadowEndpoint { Id = s.Backend.Name, Address = s.Backend.Address.ToString(), State = ShadowState.WarmingUp, DataIsolated = s.Isolated })],
        Mirror = policy,
    };

    internal static ConcurrentQueue<MirrorOutcome> Collect(RouterHost router)
    {
        var outcomes = new ConcurrentQueue<MirrorOutcome>();
        router.Bus.Subscribe<MirrorOutcome>(Topics.ShadowOutcomes, "test", (outcome, _) =>
        {
            outcomes.Enqueue(outcome);
            return Task.CompletedTask;
        });
        return outcomes;
    }

    private static async Task<IReadOnlyList<EndpointMinuteRecord>> MinutesAsync(RouterHost router, string endpoint)
    {
        var keys = (await router.Store.ListKeysAsync($"{StateKeys.MetricsPrefix}orders/", Ct)).Where(k => k.Contains($"/{endpoint}@", StringComparison.Ordinal));
        var minutes = new List<EndpointMinuteRecord>();
        foreach (var key in keys)
        {
            minutes.AddRange((await router.Store.GetJsonAsync<EndpointMetricsDay>(key, Ct))!.Value.Minutes);
        }

        return minutes;
    }

    private static string RandomCase(string name, IRandomSource random) =>
        string.Concat(name.Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)));

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    /// <summary>A body sent with <c>Transfer-Encoding: chunked</c> (its length is not known up front).</summary>
    private sealed class ChunkedContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
