using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapr.Workflow;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Embedded.Workflows;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.State;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Control.Tests;

/// <summary>
/// The control routes over HTTP on a host like the embedded one: the real Dapr.Workflow client and worker on the
/// embedded backend, so workflow status comes from real instances.
/// </summary>
public sealed class ControlEndpointsTests : IAsyncLifetime
{
    private readonly InMemoryStateStore _store = new();
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private DaprWorkflowClient Workflows => _app.Services.GetRequiredService<DaprWorkflowClient>();

    public async ValueTask InitializeAsync()
    {
        _app = await StartHostAsync(_store);
        _http = new HttpClient { BaseAddress = LoopbackApp.AddressOf(_app) };
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
        });
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
    }

    /// <summary>A host serving the control API (and daprd's workflow routes) with a waiting and a failing workflow registered.</summary>
    internal static Task<WebApplication> StartHostAsync(IStateStore store, bool workflowRoutesOnly = false) =>
        LoopbackApp.StartAsync(
            builder =>
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Shadowing:Embedded:Workflows:StatePath"] = ":memory:" });
                builder.Services.AddSingleton(store);
                builder.Services.AddSingleton(Substitute.For<IEventBus>());
                builder.Services.AddSingleton(TimeProvider.System);
                builder.Services.AddEmbeddedDaprWorkflows(builder.Configuration, o =>
                {
                    o.RegisterWorkflow<string, string>("Waiting", WaitingAsync);
                    o.RegisterWorkflow<string, string>("Failing", FailingAsync);
                });
                builder.Services.AddShadowingControl();
            },
            app => app.MapShadowingControl(daprWorkflowRoutes: !workflowRoutesOnly, workflowRoutesOnly: workflowRoutesOnly));

    [Fact]
    public async Task GetWorkflow_RunningInstance_HasDaprsFields()
    {
        await StartAsync("Waiting", "wf-1");
        JsonElement status = default;
        await Eventually.WaitUntilAsync(
            async () => (status = await _http.GetFromJsonAsync<JsonElement>(new Uri("/api/workflows/wf-1", UriKind.Relative), Ct)).GetProperty("properties").TryGetProperty("dapr.workflow.custom_status", out _),
            "the first turn has set the custom status",
            cancellationToken: Ct);

        Assert.Equal("wf-1", status.GetProperty("instanceID").GetString());
        Assert.Equal("Waiting", status.GetProperty("workflowName").GetString());
        Assert.Equal("RUNNING", status.GetProperty("runtimeStatus").GetString());
        Assert.True(status.GetProperty("createdAt").TryGetDateTimeOffset(out _));
        Assert.True(status.GetProperty("lastUpdatedAt").TryGetDateTimeOffset(out _));
        var properties = status.GetProperty("properties");
        Assert.Equal("\"hello\"", properties.GetProperty("dapr.workflow.input").GetString()); // values are JSON text, as daprd's
        Assert.Equal("waiting for release", JsonDocument.Parse(properties.GetProperty("dapr.workflow.custom_status").GetString()!).RootElement.GetProperty("phase").GetString());
    }

    [Fact]
    public async Task RaiseEvent_ReachesTheInstance_WhichCompletesWithIt()
    {
        await StartAsync("Waiting", "wf-2");

        using var response = await _http.PostAsJsonAsync(new Uri("/api/workflows/wf-2/events/release", UriKind.Relative), "r7", Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var done = await Workflows.WaitForWorkflowCompletionAsync("wf-2", cancellation: Timeout());
        Assert.Equal("released: r7", done.ReadOutputAs<string>());
        var status = await _http.GetFromJsonAsync<JsonElement>(new Uri("/api/workflows/wf-2", UriKind.Relative), Ct);
        Assert.Equal("COMPLETED", status.GetProperty("runtimeStatus").GetString());
        Assert.Equal("\"released: r7\"", status.GetProperty("properties").GetProperty("dapr.workflow.output").GetString());
        using var late = await _http.PostAsync(new Uri("/api/workflows/wf-2/events/release", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
    }

    [Fact]
    public async Task FailedInstance_ShowsTheFailureProperties()
    {
        await StartAsync("Failing", "wf-3");
        await Workflows.WaitForWorkflowCompletionAsync("wf-3", cancellation: Timeout());

        var status = await _http.GetFromJsonAsync<JsonElement>(new Uri("/api/workflows/wf-3", UriKind.Relative), Ct);

        Assert.Equal("FAILED", status.GetProperty("runtimeStatus").GetString());
        Assert.Contains("InvalidOperationException", status.GetProperty("properties").GetProperty("dapr.workflow.failure.error_type").GetString(), StringComparison.Ordinal);
        Assert.Equal("boom", status.GetProperty("properties").GetProperty("dapr.workflow.failure.error_message").GetString());
    }

    [Fact]
    public async Task Terminate_EndsTheInstanceAsTerminated()
    {
        await StartAsync("Waiting", "wf-4");

        using var response = await _http.PostAsJsonAsync(new Uri("/api/workflows/wf-4/terminate", UriKind.Relative), new { reason = "oncall" }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(WorkflowRuntimeStatus.Terminated, (await Workflows.WaitForWorkflowCompletionAsync("wf-4", cancellation: Timeout())).RuntimeStatus);
    }

    [Fact]
    public async Task DaprShapedRoutes_AnswerAsDaprdDoes()
    {
        await StartAsync("Waiting", "wf-5");

        var status = await _http.GetFromJsonAsync<JsonElement>(new Uri("/v1.0/workflows/dapr/wf-5", UriKind.Relative), Ct);
        using var unknown = await _http.GetAsync(new Uri("/v1.0/workflows/dapr/nope", UriKind.Relative), Ct);
        using var misspelt = await _http.PostAsJsonAsync(new Uri("/v1.0/workflows/dapr/wf-5/raiseEvent/relase", UriKind.Relative), "r0", Ct);
        using var raised = await _http.PostAsJsonAsync(new Uri("/v1.0/workflows/dapr/wf-5/raiseEvent/release", UriKind.Relative), "r1", Ct);

        Assert.Equal(("wf-5", "RUNNING"), (status.GetProperty("instanceID").GetString(), status.GetProperty("runtimeStatus").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("ERR_INSTANCE_ID_NOT_FOUND", (await unknown.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errorCode").GetString());
        using var invalid = await _http.GetAsync(new Uri("/v1.0/workflows/dapr/not%20valid", UriKind.Relative), Ct);
        using var tooLong = await _http.GetAsync(new Uri("/v1.0/workflows/dapr/" + new string('w', 65), UriKind.Relative), Ct);
        // daprd checks an id's characters and length only when starting a workflow: one no instance can have is not found.
        Assert.Equal((HttpStatusCode.NotFound, "ERR_INSTANCE_ID_NOT_FOUND"), (invalid.StatusCode, (await invalid.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errorCode").GetString()));
        Assert.Equal((HttpStatusCode.NotFound, "ERR_INSTANCE_ID_NOT_FOUND"), (tooLong.StatusCode, (await tooLong.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errorCode").GetString()));
        // daprd would pass a name nobody waits for on, to do nothing; this host refuses it, naming the field.
        var refused = await misspelt.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal((HttpStatusCode.BadRequest, "ERR_BAD_REQUEST"), (misspelt.StatusCode, refused.GetProperty("errorCode").GetString()));
        Assert.StartsWith("name: 'relase' is not an event", refused.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, raised.StatusCode);
        Assert.Empty(await raised.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal("released: r1", (await Workflows.WaitForWorkflowCompletionAsync("wf-5", cancellation: Timeout())).ReadOutputAs<string>());
        using var ended = await _http.PostAsJsonAsync(new Uri("/v1.0/workflows/dapr/wf-5/raiseEvent/release", UriKind.Relative), "r2", Ct);
        Assert.Equal((HttpStatusCode.Conflict, "ERR_INSTANCE_ENDED"), (ended.StatusCode, (await ended.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errorCode").GetString()));

        await StartAsync("Waiting", "wf-6");
        using var terminated = await _http.PostAsync(new Uri("/v1.0/workflows/dapr/wf-6/terminate", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, terminated.StatusCode);
        Assert.Equal(WorkflowRuntimeStatus.Terminated, (await Workflows.WaitForWorkflowCompletionAsync("wf-6", cancellation: Timeout())).RuntimeStatus);
    }

    [Fact]
    public async Task Audit_RecordsTheClaimedActorWithItsAddress()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/services/orders/shadows", UriKind.Relative));
        request.Headers.Add(ControlEndpoints.ActorHeader, "alice");
        using var started = await _http.SendAsync(request, Ct);

        var audit = await _http.GetFromJsonAsync<JsonElement>(new Uri("/api/audit", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        Assert.Equal("alice (claimed) from 127.0.0.1", audit[0].GetProperty("actor").GetString());
        Assert.Equal("start-shadows", audit[0].GetProperty("action").GetString());
    }

    [Fact]
    public void Actor_AClaimPaddedToTheAuditLogsLength_KeepsItsMarkAndAddress()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers[ControlEndpoints.ActorHeader] = "alice@corp" + new string(' ', 150) + "x" + new string('y', 200);
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Parse("10.0.0.9");

        var actor = ControlEndpoints.Actor(context.Request);

        Assert.EndsWith("… (claimed) from 10.0.0.9", actor, StringComparison.Ordinal);
        Assert.True(actor.Length <= 200, actor);
    }

    [Theory]
    [InlineData(null, "mallory@example.com (claimed) from 10.0.0.9")] // no App Service authentication: a client may send the header itself
    [InlineData("False", "mallory@example.com (claimed) from 10.0.0.9")]
    [InlineData("True", "mallory@example.com from 10.0.0.9")] // App Service put it there, having stripped any client's own
    public void Actor_ThePrincipalHeaderIsTrustedOnlyBehindAppServiceAuthentication(string? authEnabled, string expected)
    {
        var context = new DefaultHttpContext
        {
            RequestServices = new ServiceCollection()
                .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["WEBSITE_AUTH_ENABLED"] = authEnabled }).Build())
                .BuildServiceProvider(),
        };
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Parse("10.0.0.9");
        context.Request.Headers["x-ms-client-principal-name"] = "mallory@example.com";

        Assert.Equal(expected, ControlEndpoints.Actor(context.Request));
    }

    [Theory]
    [InlineData("GET", "/api/audit?day=2026-13-01", null, 400)]
    [InlineData("GET", "/api/workflows/nope", null, 404)]
    [InlineData("GET", "/api/workflows/bad.id", null, 400)]
    [InlineData("POST", "/api/workflows/nope/events/release", null, 404)]
    [InlineData("POST", "/api/workflows/nope/terminate", null, 404)]
    [InlineData("GET", "/api/services/orders", null, 200)]
    [InlineData("GET", "/api/services/payments", null, 404)]
    [InlineData("POST", "/api/services/orders/shadows", "{\"count\":0}", 400)]
    [InlineData("POST", "/api/services/orders/shadows", "", 202)]
    [InlineData("POST", "/api/services/orders/shadows/s1/promote", null, 404)]
    [InlineData("GET", "/api/services/orders/events", null, 200)]
    [InlineData("PUT", "/api/services/orders/events", "[{\"start\":\"2026-12-24T18:00:00Z\",\"end\":\"2026-12-24T22:00:00Z\",\"name\":\"xmas\",\"kind\":\"campaign\"}]", 200)]
    [InlineData("PUT", "/api/services/orders/events", "{}", 400)]
    [InlineData("GET", "/api/routing", null, 200)]
    [InlineData("GET", "/api/routing/orders", null, 200)]
    [InlineData("GET", "/api/routing/payments", null, 404)]
    public async Task EveryRoute_Answers(string method, string path, string? body, int expected)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request, Ct);

        Assert.Equal(expected, (int)response.StatusCode);
        if (expected >= 400)
        {
            Assert.Equal(ControlResult.ProblemContentType, response.Content.Headers.ContentType?.MediaType);
        }
    }

    private async Task StartAsync(string workflow, string instanceId)
    {
        await Workflows.ScheduleNewWorkflowAsync(workflow, instanceId, "hello");
        await Workflows.WaitForWorkflowStartAsync(instanceId, cancellation: Timeout());
    }

    private static CancellationToken Timeout()
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        source.CancelAfter(TimeSpan.FromSeconds(30));
        return source.Token;
    }

    private static async Task<string> WaitingAsync(WorkflowContext context, string input)
    {
        context.SetCustomStatus(new { phase = "waiting for release" });
        var reason = await context.WaitForExternalEventAsync<string?>("release");
        return $"released: {reason}";
    }

    private static Task<string> FailingAsync(WorkflowContext context, string input) => throw new InvalidOperationException("boom");
}
