using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Control;
using Shadowing.Control.Workflows;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Functions.Control;
using Shadowing.TestUtilities.Metrics;
using Shadowing.TestUtilities.State;

namespace Shadowing.Functions.Tests.Control;

/// <summary>
/// The HTTP functions called directly, as the Functions host would (a request in, an action result executed on the
/// response), over the shared handlers: each route's status and body, byte for byte what the other hosts answer.
/// </summary>
public sealed class ControlFunctionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 11, 30, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly IWorkflowControl _workflows = Substitute.For<IWorkflowControl>();
    private readonly ControlFunctions _functions;

    public ControlFunctionsTests()
    {
        _functions = new ControlFunctions(new ControlApi(_store, _bus, _workflows, new FakeTimeProvider(Now)));
        _store.SaveJsonAsync(StateKeys.Routing("orders"), new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
        }).GetAwaiter().GetResult();
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>())
            .Returns(new WorkflowStatus("wf-1", "ShadowLifecycleWorkflow", Now, Now, "RUNNING", new Dictionary<string, string> { [WorkflowStatus.InputProperty] = "{}" }));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GetWorkflow_Known200WithDaprsFields_Unknown404_Bad400()
    {
        var (status, body, _) = await RunAsync(r => _functions.GetWorkflow(r, "wf-1", Ct));
        Assert.Equal(200, status);
        Assert.Equal(("wf-1", "RUNNING", "{}"), (body.GetProperty("instanceID").GetString(), body.GetProperty("runtimeStatus").GetString(), body.GetProperty("properties").GetProperty("dapr.workflow.input").GetString()));

        Assert.Equal(404, (await RunAsync(r => _functions.GetWorkflow(r, "nope", Ct))).Status);
        var (badStatus, problem, contentType) = await RunAsync(r => _functions.GetWorkflow(r, "bad.id", Ct));
        Assert.Equal((400, "application/problem+json"), (badStatus, contentType));
        Assert.True(problem.GetProperty("errors").TryGetProperty("instanceId", out _));
    }

    [Fact]
    public async Task RaiseWorkflowEvent_And_TerminateWorkflow_Answer202_AndReachTheWorkflows()
    {
        Assert.Equal(202, (await RunAsync(r => _functions.RaiseWorkflowEvent(r, "wf-1", "extend", Ct), "{\"windowEnd\":\"2026-12-02T15:00:00Z\"}")).Status);
        Assert.Equal(202, (await RunAsync(r => _functions.TerminateWorkflow(r, "wf-1", Ct))).Status);

        await _workflows.Received(1).RaiseEventAsync("wf-1", "extend", Arg.Any<JsonElement?>(), Arg.Any<CancellationToken>());
        await _workflows.Received(1).TerminateAsync("wf-1", Arg.Any<string>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task GetService_200WithETag_Unknown404()
    {
        var (status, body, _) = await RunAsync(r => _functions.GetService(r, "orders", Ct), etag: true);

        Assert.Equal(200, status);
        Assert.Equal("orders", body.GetProperty("routingTable").GetProperty("service").GetString());
        Assert.Equal(404, (await RunAsync(r => _functions.GetService(r, "payments", Ct))).Status);
    }

    [Fact]
    public async Task StartShadows_EmptyBody202_BadBody400NamingTheField()
    {
        var (status, body, _) = await RunAsync(r => _functions.StartShadows(r, "orders", Ct));
        Assert.Equal(202, status);
        Assert.Equal(1, body.GetProperty("request").GetProperty("count").GetInt32());

        var (bad, problem, _) = await RunAsync(r => _functions.StartShadows(r, "orders", Ct), "{\"count\":-1}");
        Assert.Equal(400, bad);
        Assert.True(problem.GetProperty("errors").TryGetProperty("count", out _));
    }

    [Fact]
    public async Task PromoteShadow_UnknownShadow404()
    {
        Assert.Equal(404, (await RunAsync(r => _functions.PromoteShadow(r, "orders", "s1", Ct))).Status);
    }

    [Fact]
    public async Task PutEvents_ThenGetEvents_RoundTrip_BadEntry400()
    {
        const string Calendar = "[{\"start\":\"2026-12-24T18:00:00Z\",\"end\":\"2026-12-24T22:00:00Z\",\"name\":\"xmas\",\"kind\":\"campaign\"}]";
        Assert.Equal(200, (await RunAsync(r => _functions.PutEvents(r, "orders", Ct), Calendar)).Status);
        var (status, events, _) = await RunAsync(r => _functions.GetEvents(r, "orders", Ct));
        Assert.Equal((200, "xmas"), (status, events[0].GetProperty("name").GetString()));

        var (bad, problem, _) = await RunAsync(r => _functions.PutEvents(r, "orders", Ct), "[{\"start\":\"x\"}]");
        Assert.Equal(400, bad);
        Assert.True(problem.GetProperty("errors").TryGetProperty("events[0].start", out _));
    }

    [Fact]
    public async Task Routing_ListAndGet_FoldedIntoTheControlApi()
    {
        var (listStatus, list, _) = await RunAsync(r => _functions.ListRoutingTables(r, Ct));
        Assert.Equal((200, "orders"), (listStatus, list[0].GetProperty("service").GetString()));
        Assert.Equal(200, (await RunAsync(r => _functions.GetRoutingTable(r, "orders", Ct), etag: true)).Status);
        Assert.Equal(404, (await RunAsync(r => _functions.GetRoutingTable(r, "payments", Ct))).Status);
        Assert.Equal(400, (await RunAsync(r => _functions.GetRoutingTable(r, "a b", Ct))).Status);
    }

    [Fact]
    public async Task GetTraffic_SumsTheRoutersRecords_BadMinutes400NamingIt()
    {
        await RouterRecords.SaveAsync(
            _store,
            [
                new EndpointMinuteRecord { Service = "orders", EndpointId = "orders-1", Role = EndpointRole.Production, Minute = Now.AddMinutes(-3), Requests = 40, Errors = 2 },
                new EndpointMinuteRecord { Service = "orders", EndpointId = "orders-2", Role = EndpointRole.Production, Minute = Now.AddMinutes(-3), Requests = 30, Errors = 1 },
                new EndpointMinuteRecord { Service = "orders", EndpointId = "s1", Role = EndpointRole.Shadow, Minute = Now.AddMinutes(-3), Requests = 5 },
            ],
            Ct);

        var (status, body, _) = await RunAsync(r => _functions.GetTraffic(Query(r, "minutes", "10"), "orders", Ct));
        Assert.Equal(200, status);
        var minute = Assert.Single(body.GetProperty("minutes").EnumerateArray());
        Assert.Equal((70, 5, 3), (minute.GetProperty("production").GetInt32(), minute.GetProperty("shadow").GetInt32(), minute.GetProperty("errors").GetInt32()));

        var (bad, problem, _) = await RunAsync(r => _functions.GetTraffic(Query(r, "minutes", "0"), "orders", Ct));
        Assert.Equal(400, bad);
        Assert.True(problem.GetProperty("errors").TryGetProperty("minutes", out _));
    }

    [Fact]
    public void EveryControlRouteTheOtherHostsServe_IsAFunction_WithTheSameMethod()
    {
        // The hosts map the routes with MapShadowingControl; the Functions app declares them again as triggers, so a
        // route added there and not here would be a 404 on the Functions app only.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddShadowingControl(); // only to map the routes: no handler is called
        var app = builder.Build();
        app.MapShadowingControl();
        var mapped = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => (Method: m.ToUpperInvariant(), Route: Canonical(e.RoutePattern.RawText!))))
            .ToHashSet();
        var functions = typeof(ControlFunctions).GetMethods()
            .SelectMany(m => m.GetParameters())
            .Select(p => p.GetCustomAttribute<HttpTriggerAttribute>())
            .OfType<HttpTriggerAttribute>()
            .SelectMany(t => t.Methods!.Select(m => (Method: m.ToUpperInvariant(), Route: Canonical("/api/" + t.Route))))
            .ToHashSet();

        Assert.NotEmpty(mapped);
        Assert.Empty(mapped.Except(functions));
    }

    private static HttpRequest Query(HttpRequest request, string name, string value)
    {
        request.QueryString = QueryString.Create(name, value);
        return request;
    }

    /// <summary>A route template with its parameters' names left out: <c>/api/services/{}/events</c>.</summary>
    private static string Canonical(string route) => Regex.Replace(route, "{[^}]*}", "{}").TrimEnd('/');

    /// <summary>Calls a function with a fresh request and executes its result as the Functions host does.</summary>
    private static async Task<(int Status, JsonElement Body, string? ContentType)> RunAsync(Func<HttpRequest, Task<IActionResult>> function, string? body = null, bool etag = false)
    {
        var context = new DefaultHttpContext();
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body ?? string.Empty));
        var response = new MemoryStream();
        context.Response.Body = response;

        var result = await function(context.Request);
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));

        if (etag)
        {
            Assert.False(string.IsNullOrEmpty(context.Response.Headers.ETag.ToString()), "an ETag header");
        }

        var text = Encoding.UTF8.GetString(response.ToArray());
        return (context.Response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), context.Response.ContentType?.Split(';')[0]);
    }
}
