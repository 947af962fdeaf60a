using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shadowing.Core.Routing;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Forwarding;

[Collection(nameof(RouterMetricsCollection))]
public sealed class ServiceForwarderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Request_HealthyProduction_ForwardsPathAndQueryBelowTheService()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        using var response = await router.Client.GetAsync(new Uri("/orders/api/items/42?expand=true", UriKind.Relative), Ct);
        var read = await Table.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal("p1", read.Answer.Endpoint);
        Assert.Equal("/api/items/42", read.Answer.Path);
        Assert.Equal("?expand=true", read.Answer.Query);
        Assert.Equal("production", read.Route);
        Assert.Equal("p1", response.Headers.GetValues("x-shadowing-endpoint").Single());
    }

    [Fact]
    public async Task Request_ServiceRootAndCaseInsensitiveName_Forwarded()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        using var response = await router.Client.GetAsync(new Uri("/Orders", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("p1", (await Table.ReadAsync(response)).Answer.Endpoint);
    }

    [Fact]
    public async Task Request_UnknownService_Returns404ProblemJsonNamingIt()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])]);

        using var response = await router.Client.GetAsync(new Uri("/payments/x", UriKind.Relative), Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("payments", problem.GetProperty("service").GetString());
        Assert.Contains("'payments'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Overload_ProductionAtMaxConcurrency_SpillsToPreWarmedShadow()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var fallback = await TestBackend.StartAsync("fallback");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], [shadow], fallback, maxConcurrency: 2)]);
        var held = await HoldAsync(p1, router, 2);

        using var spilled = await router.Client.GetAsync(new Uri("/orders/c", UriKind.Relative), Ct);
        var read = await Table.ReadAsync(spilled);
        await ReleaseAsync(p1, held);

        Assert.Equal("shadow", read.Answer.Endpoint);
        Assert.Equal("shadow", read.Route);
        Assert.True(PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "shadow"), ("reason", "overloaded")) >= 1);
    }

    [Fact]
    public async Task Overload_NoShadow_SpillsToDefault()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var fallback = await TestBackend.StartAsync("fallback");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], fallback: fallback, maxConcurrency: 1)]);
        var held = await HoldAsync(p1, router, 1);

        using var spilled = await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct);
        var read = await Table.ReadAsync(spilled);
        await ReleaseAsync(p1, held);

        Assert.Equal("fallback", read.Answer.Endpoint);
        Assert.Equal("default", read.Route);
        Assert.True(PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "default"), ("reason", "no_healthy_shadow")) >= 1);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)] // masked: a copy of its own whatever dataIsolated says
    public async Task Overload_AShadowOnItsOwnCopyOfTheData_TakesNoClientTraffic_TheDefaultDoes(bool isolated, bool masked)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var fallback = await TestBackend.StartAsync("fallback");
        var table = Table.For("orders", [p1], [shadow], fallback, maxConcurrency: 1);
        await using var router = await RouterHost.StartAsync([table with { Shadows = [.. table.Shadows.Select(s => s with { DataIsolated = isolated, DataMasked = masked })] }]);
        var held = await HoldAsync(p1, router, 1);

        using var spilled = await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct);
        var read = await Table.ReadAsync(spilled);
        await ReleaseAsync(p1, held);

        Assert.Equal("fallback", read.Answer.Endpoint);
        Assert.Equal(0, shadow.Requests);
    }

    [Fact]
    public async Task Overload_NoShadowNoDefault_Returns503ProblemJson()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], maxConcurrency: 1)]);
        var held = await HoldAsync(p1, router, 1);

        using var rejected = await router.Client.GetAsync(new Uri("/orders/b", UriKind.Relative), Ct);
        var problem = await rejected.Content.ReadFromJsonAsync<JsonElement>(Ct);
        await ReleaseAsync(p1, held);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType!.MediaType);
        Assert.Equal("orders", problem.GetProperty("service").GetString());
        Assert.Equal("overloaded", problem.GetProperty("reason").GetString());
        Assert.Equal(1, p1.Requests);
    }

    [Fact]
    public async Task Unhealthy_ProductionFailsProbes_RoutesToShadowAsUnhealthy()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], [shadow])]);
        p1.Healthy = false;
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p1"), "the router sees p1 as unhealthy", cancellationToken: Ct);

        using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);

        Assert.Equal("shadow", (await Table.ReadAsync(response)).Answer.Endpoint);
        Assert.Equal(0, p1.Requests);
        Assert.True(PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "shadow"), ("reason", "unhealthy")) >= 1);
    }

    [Theory]
    [InlineData("POST", null)]
    [InlineData("GET", "POST")] // the service acts on the override, as mirroring reads it: a POST to it
    public async Task NonIdempotentRequest_EndpointDroppingItAfterItArrived_Returns502AndIsNotRetried(string method, string? methodOverride)
    {
        var reached = new StrongBox<int>();
        await using var p1 = await AbortingEndpointAsync(reached);
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await StartBehindAsync(p1, shadow);

        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri("/orders/checkout", UriKind.Relative));
        if (methodOverride is null)
        {
            request.Content = new StringContent("{\"cart\":1}", Encoding.UTF8, "application/json");
        }
        else
        {
            request.Headers.Add("X-HTTP-Method-Override", methodOverride);
        }

        using var response = await router.Client.SendAsync(request, Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("POST is not idempotent", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, shadow.Requests);
        Assert.Equal(1, reached.Value);
    }

    [Theory]
    [InlineData("POST", true)]
    [InlineData("PATCH", false)] // streamed, without a length: never kept, and never needed
    public async Task AnyRequest_EndpointRefusingConnections_IsSentToTheNextWithItsWholeBody(string method, bool withLength)
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await RouterHost.StartAsync(
            [Table.For("orders", [p1], [shadow])],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });
        await p1.KillAsync(); // refused: no byte reached it

        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri("/orders/checkout", UriKind.Relative));
        if (withLength)
        {
            request.Content = new StringContent("{\"cart\":1}", Encoding.UTF8, "application/json");
        }
        else
        {
            var pipe = new System.IO.Pipelines.Pipe();
            await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes("{\"cart\":1}"), Ct);
            await pipe.Writer.CompleteAsync();
            request.Content = new StreamContent(pipe.Reader.AsStream()); // not seekable: no Content-Length
        }

        using var response = await router.Client.SendAsync(request, Ct);
        var read = await Table.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal(("shadow", "{\"cart\":1}"), (read.Answer.Endpoint, read.Answer.Body));
    }

    [Fact]
    public async Task IdempotentPut_WithoutALength_EndpointDroppingItAfterItArrived_Returns502SayingWhy()
    {
        var reached = new StrongBox<int>();
        await using var p1 = await AbortingEndpointAsync(reached);
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await StartBehindAsync(p1, shadow);

        // A stream of unknown length goes chunked: the router cannot know in advance that it would fit.
        var pipe = new System.IO.Pipelines.Pipe();
        await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes("{\"qty\":3}"), Ct);
        await pipe.Writer.CompleteAsync();
        using var body = new StreamContent(pipe.Reader.AsStream()); // not seekable: no Content-Length
        using var response = await router.Client.PutAsync(new Uri("/orders/items/7", UriKind.Relative), body, Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("came without a length", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, shadow.Requests);
        Assert.Equal(1, reached.Value);
    }

    /// <summary>A router with <paramref name="p1"/> as production and <paramref name="shadow"/> PreWarmed, probes off.</summary>
    private static Task<RouterHost> StartBehindAsync(WebApplication p1, TestBackend shadow) =>
        RouterHost.StartAsync(
            [Table.For("orders", [], [shadow]) with { Production = [new ProductionEndpoint { Id = "p1", Address = LoopbackApp.AddressOf(p1).ToString(), MaxConcurrency = 100 }] }],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });

    /// <summary>An endpoint that reads each request whole, counts it, and drops the connection without answering.</summary>
    private static Task<WebApplication> AbortingEndpointAsync(StrongBox<int> reached) =>
        LoopbackApp.StartAsync(null, app => app.Run(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            Interlocked.Increment(ref reached.Value);
            context.Abort();
        }));

    [Fact]
    public async Task IdempotentPut_EndpointDown_RetriedOnShadowWithSameBody()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await RouterHost.StartAsync(
            [Table.For("orders", [p1], [shadow])],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });
        await p1.KillAsync();

        using var response = await router.Client.PutAsync(new Uri("/orders/items/7", UriKind.Relative), new StringContent("{\"qty\":3}", Encoding.UTF8, "application/json"), Ct);
        var read = await Table.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal("shadow", read.Answer.Endpoint);
        Assert.Equal("{\"qty\":3}", read.Answer.Body);
        Assert.True(PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "shadow"), ("reason", "failover")) >= 1);

        // A body over what stays in memory (64 KiB) is kept whole too, the rest of it in a temporary file.
        var large = "{\"note\":\"" + new string('x', 300_000) + "\"}";
        using var put = await router.Client.PutAsync(new Uri("/orders/items/8", UriKind.Relative), new StringContent(large, Encoding.UTF8, "application/json"), Ct);
        var answer = await Table.ReadAsync(put);
        Assert.Equal(("shadow", large), (answer.Answer.Endpoint, answer.Answer.Body));
    }

    [Fact]
    public async Task PostMarkedIdempotent_EndpointDroppingIt_IsRetried()
    {
        var reached = new StrongBox<int>();
        await using var p1 = await AbortingEndpointAsync(reached);
        await using var fallback = await TestBackend.StartAsync("fallback");
        var table = Table.For("orders", [], fallback: fallback) with
        {
            Production = [new ProductionEndpoint { Id = "p1", Address = LoopbackApp.AddressOf(p1).ToString(), MaxConcurrency = 100 }],
            IdempotentRequests = [new IdempotentRequestRule { Method = "POST", PathPrefix = "/search" }],
        };
        await using var router = await RouterHost.StartAsync([table], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false", ["Router:OutlierDetection:ConsecutiveFailures"] = "100" });

        using var search = await router.Client.PostAsync(new Uri("/orders/search?q=x", UriKind.Relative), new StringContent("q"), Ct);
        using var below = await router.Client.PostAsync(new Uri("/orders/search/saved", UriKind.Relative), new StringContent("q"), Ct);
        using var other = await router.Client.PostAsync(new Uri("/orders/buy", UriKind.Relative), new StringContent("b"), Ct);
        using var longer = await router.Client.PostAsync(new Uri("/orders/searches", UriKind.Relative), new StringContent("s"), Ct);

        Assert.Equal("fallback", (await Table.ReadAsync(search)).Answer.Endpoint);
        Assert.Equal("fallback", (await Table.ReadAsync(below)).Answer.Endpoint);
        Assert.Equal(HttpStatusCode.BadGateway, other.StatusCode);

        // The prefix matches whole segments: /searches (creating a saved search, say) is another path, not retried.
        Assert.Equal(HttpStatusCode.BadGateway, longer.StatusCode);
    }

    [Fact]
    public async Task IdempotentGet_EveryEndpointDown_Returns502SayingRetryFailed()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await RouterHost.StartAsync(
            [Table.For("orders", [p1], [shadow])],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });
        await p1.KillAsync();
        await shadow.KillAsync();

        using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("the retry failed too", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerError_Counted_AndEjectsAfterConsecutiveFailures()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var shadow = await TestBackend.StartAsync("shadow");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], [shadow])]);
        p1.StatusCode = 500;

        for (var i = 0; i < 3; i++)
        {
            using var failed = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode); // a 5xx answer is passed on, not retried
        }

        using var afterEjection = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);

        Assert.Equal("shadow", (await Table.ReadAsync(afterEjection)).Answer.Endpoint);
        Assert.Equal(3, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_errors_total", ("service", "orders"), ("endpoint", "p1")));
    }

    [Fact]
    public async Task ServerErrors_EjectTheOnlyProductionEndpoint_WithoutShadow_ItStillAnswers_NotTheDefault()
    {
        // A bug on one path answers 500 to every call of it: ejection must not take the whole service to the busy page.
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var fallback = await TestBackend.StartAsync("fallback");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], fallback: fallback)]);
        p1.StatusCode = 500;
        for (var i = 0; i < 3; i++)
        {
            using var failed = await router.Client.GetAsync(new Uri("/orders/broken", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        Assert.False(await router.IsAvailableAsync("p1"));
        p1.StatusCode = 200;

        using var other = await router.Client.GetAsync(new Uri("/orders/fine", UriKind.Relative), Ct);

        Assert.Equal("p1", (await Table.ReadAsync(other)).Answer.Endpoint);
        Assert.Equal(1, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "production"), ("reason", "panic")));
        Assert.Equal(0, fallback.Requests);
    }

    [Fact]
    public async Task EjectedForItsAnswers_ThenItsProcessGone_NoLongerThePanicTarget_TheDefaultAnswers()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var fallback = await TestBackend.StartAsync("fallback");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], fallback: fallback)], new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false" });
        p1.StatusCode = 500;
        for (var i = 0; i < 3; i++)
        {
            using var failed = await router.Client.GetAsync(new Uri("/orders/broken", UriKind.Relative), Ct);
        }

        await p1.KillAsync(); // without probes, nothing else would notice
        using (var first = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct))
        {
            Assert.Equal("fallback", (await Table.ReadAsync(first)).Answer.Endpoint); // the panic attempt failed over
        }

        using var next = await router.Client.GetAsync(new Uri("/orders/y", UriKind.Relative), Ct);

        Assert.Equal("fallback", (await Table.ReadAsync(next)).Answer.Endpoint);
        Assert.Equal(1, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "production"), ("reason", "panic")));
    }

    [Fact]
    public async Task ABusyPageDefaultAnswering503Everywhere_IsNeverTakenOut_ItsAnswerReachesClients()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var busy = await TestBackend.StartAsync("busy");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1], fallback: busy)]);
        p1.Healthy = false;
        busy.Healthy = false; // its /healthz answers 503 too
        busy.StatusCode = 503;
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("p1"), "the router sees p1 as unhealthy", cancellationToken: Ct);
        var probed = busy.HealthChecks;
        await Eventually.WaitUntilAsync(() => busy.HealthChecks >= probed + 3, "three more probes of the busy page", cancellationToken: Ct);

        for (var i = 0; i < 4; i++)
        {
            using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);
            var answer = await Table.ReadAsync(response);
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "busy"), (answer.Status, answer.Answer.Endpoint));
        }

        Assert.True(await router.IsAvailableAsync("busy"));
    }

    [Fact]
    public async Task NoConnectionInTime_Is502AConnectFailure_NotAResponseTimeout()
    {
        // A host that is gone takes no connection and refuses none: the handler's ConnectTimeout ends the attempt.
        using var nowhere = await UnacceptingListener.StartAsync();
        var table = Table.For("orders", []) with { Production = [new ProductionEndpoint { Id = "p1", Address = nowhere.Address.ToString(), MaxConcurrency = 100 }] };
        await using var router = await RouterHost.StartAsync(
            [table],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false", ["Router:Forwarding:ConnectTimeout"] = "00:00:00.300" });

        using var response = await router.Client.PostAsync(new Uri("/orders/checkout", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"), Ct);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("not made in time", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("connect_failure", problem.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("text/event-stream", false, false)]
    [InlineData("application/json", false, true)] // chunked, as ASP.NET Core writes JSON: a stall, not a stream
    [InlineData("application/json", true, true)]
    public async Task ABodyQuietPastTheResponseTimeout_IsCut_AStreamWithoutCountingAgainstTheEndpoint(string contentType, bool announcedLength, bool counted)
    {
        // Server-sent events that go quiet after their headers are cut at ResponseTimeout, as nginx's proxy_read_timeout
        // does, but a healthy endpoint is not ejected for its quiet streams; any other body that stalls is a timeout.
        await using var events = await LoopbackApp.StartAsync(null, app => app.MapGet("/stream", async (HttpContext context) =>
        {
            context.Response.ContentType = contentType;
            context.Response.ContentLength = announcedLength ? 100 : null;
            await context.Response.WriteAsync("data: hello\n\n", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await Task.Delay(TimeSpan.FromSeconds(5), TimeProvider.System, context.RequestAborted);
        }));
        var table = Table.For("feed", []) with { Production = [new ProductionEndpoint { Id = "p1", Address = LoopbackApp.AddressOf(events).ToString(), MaxConcurrency = 100 }] };
        var logs = new WarningLines();
        await using var router = await RouterHost.StartAsync(
            [table],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false", ["Router:Forwarding:ResponseTimeout"] = "00:00:00.300" },
            services: s => s.AddLogging(b => b.AddProvider(logs).AddFilter<WarningLines>(level => level >= LogLevel.Warning)));

        for (var i = 0; i < 3; i++)
        {
            using var response = await router.Client.GetAsync(new Uri("/feed/stream", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
            Assert.Equal("data: hello", await reader.ReadLineAsync(Ct));
            await Assert.ThrowsAnyAsync<Exception>(async () => await reader.ReadToEndAsync(Ct)); // cut, not ended as if complete
        }

        Assert.Equal(!counted, await router.IsAvailableAsync("p1"));
        Assert.Equal(counted ? 3 : 0, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_errors_total", ("service", "feed"), ("endpoint", "p1")) ?? 0);
        Assert.Equal(counted ? 3 : 0, logs.Lines.Count(l => l.Contains("forwarding to endpoint p1 failed", StringComparison.Ordinal))); // a stream's cut is routine
    }

    /// <summary>The warnings logged, as their formatted lines.</summary>
    private sealed class WarningLines : ILoggerProvider, ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

        public IEnumerable<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task EjectedForItsAnswers_ThenItsHostTakesNoConnections_NoLongerThePanicTarget_TheDefaultAnswers()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var fallback = await TestBackend.StartAsync("fallback");
        await using var router = await RouterHost.StartAsync(
            [Table.For("orders", [p1], fallback: fallback)],
            new Dictionary<string, string?> { ["Router:ActiveHealthChecks:Enabled"] = "false", ["Router:Forwarding:ConnectTimeout"] = "00:00:00.300" });
        p1.StatusCode = 500;
        for (var i = 0; i < 3; i++)
        {
            using var failed = await router.Client.GetAsync(new Uri("/orders/broken", UriKind.Relative), Ct);
        }

        await p1.KillAsync();
        using var gone = await UnacceptingListener.StartAsync(p1.Address.Port); // its VM stopped: SYNs go unanswered
        using (var first = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct))
        {
            Assert.Equal("fallback", (await Table.ReadAsync(first)).Answer.Endpoint); // the panic attempt failed over
        }

        using var next = await router.Client.GetAsync(new Uri("/orders/y", UriKind.Relative), Ct);

        Assert.Equal("fallback", (await Table.ReadAsync(next)).Answer.Endpoint);
        Assert.Equal(1, PrometheusText.Value(await router.MetricsAsync(), "shadowing_router_decisions_total", ("service", "orders"), ("route", "production"), ("reason", "panic")));
    }

    [Fact]
    public async Task RouteHeadersOff_NoTopologyHeaders()
    {
        await using var p1 = await TestBackend.StartAsync("p1");
        await using var router = await RouterHost.StartAsync([Table.For("orders", [p1])], new Dictionary<string, string?> { ["Router:RouteHeaders"] = "false" });

        using var response = await router.Client.GetAsync(new Uri("/orders/x", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("x-shadowing-route"));
        Assert.False(response.Headers.Contains("x-shadowing-endpoint"));
    }

    /// <summary>Fills <paramref name="backend"/> with <paramref name="count"/> requests that wait at its gate.</summary>
    private static async Task<Task<HttpResponseMessage>[]> HoldAsync(TestBackend backend, RouterHost router, int count)
    {
        backend.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = Enumerable.Range(0, count).Select(i => router.Client.GetAsync(new Uri($"/orders/held-{i}", UriKind.Relative), Ct)).ToArray();
        await Eventually.WaitUntilAsync(() => backend.InFlight == count, $"{backend.Name} holds {count} request(s)", cancellationToken: Ct);
        return held;
    }

    /// <summary>Opens the gate and checks every held request was answered by that backend.</summary>
    private static async Task ReleaseAsync(TestBackend backend, Task<HttpResponseMessage>[] held)
    {
        backend.Gate!.SetResult();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(backend.Name, (await Table.ReadAsync(response)).Answer.Endpoint);
            response.Dispose();
        }
    }
}
