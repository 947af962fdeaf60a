using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Shadowing.Control;

namespace Shadowing.Functions.Control;

/// <summary>
/// The control API as HTTP-triggered functions (function keys: <see cref="AuthorizationLevel.Function"/>), each a thin
/// call into <see cref="ControlApi"/>, the handlers the workflows and embedded hosts serve too. Workflow instances are
/// reached through the workflows app (see <see cref="Shadowing.Control.Workflows.InvokedWorkflowControl"/>).
/// </summary>
public sealed class ControlFunctions(ControlApi api)
{
    /// <summary><c>GET /api/workflows/{instanceId}</c>.</summary>
    [Function("GetWorkflow")]
    public async Task<IActionResult> GetWorkflow(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "workflows/{instanceId}")] HttpRequest request, string instanceId, CancellationToken cancellationToken) =>
        await api.GetWorkflowAsync(instanceId, cancellationToken).ConfigureAwait(false);

    /// <summary><c>POST /api/workflows/{instanceId}/events/{name}</c>.</summary>
    [Function("RaiseWorkflowEvent")]
    public async Task<IActionResult> RaiseWorkflowEvent(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "workflows/{instanceId}/events/{name}")] HttpRequest request, string instanceId, string name, CancellationToken cancellationToken) =>
        await api.RaiseEventAsync(instanceId, name, Body(request), ControlEndpoints.Actor(request), cancellationToken).ConfigureAwait(false);

    /// <summary><c>POST /api/workflows/{instanceId}/terminate</c>.</summary>
    [Function("TerminateWorkflow")]
    public async Task<IActionResult> TerminateWorkflow(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "workflows/{instanceId}/terminate")] HttpRequest request, string instanceId, CancellationToken cancellationToken) =>
        await api.TerminateAsync(instanceId, Body(request), ControlEndpoints.Actor(request), cancellationToken).ConfigureAwait(false);

    /// <summary><c>GET /api/services/{service}</c>.</summary>
    [Function("GetService")]
    public async Task<IActionResult> GetService(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "services/{service}")] HttpRequest request, string service, CancellationToken cancellationToken) =>
        await api.GetServiceAsync(service, cancellationToken).ConfigureAwait(false);

    /// <summary><c>POST /api/services/{service}/shadows</c>.</summary>
    [Function("StartShadows")]
    public async Task<IActionResult> StartShadows(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "services/{service}/shadows")] HttpRequest request, string service, CancellationToken cancellationToken) =>
        await api.StartShadowsAsync(service, Body(request), ControlEndpoints.Actor(request), cancellationToken).ConfigureAwait(false);

    /// <summary><c>POST /api/services/{service}/shadows/{shadowId}/promote</c>.</summary>
    [Function("PromoteShadow")]
    public async Task<IActionResult> PromoteShadow(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "services/{service}/shadows/{shadowId}/promote")] HttpRequest request, string service, string shadowId, CancellationToken cancellationToken) =>
        await api.PromoteAsync(service, shadowId, Body(request), ControlEndpoints.Actor(request), cancellationToken).ConfigureAwait(false);

    /// <summary><c>GET /api/services/{service}/traffic?minutes=N</c>.</summary>
    [Function("GetTraffic")]
    public async Task<IActionResult> GetTraffic(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "services/{service}/traffic")] HttpRequest request, string service, CancellationToken cancellationToken) =>
        await api.GetTrafficAsync(service, request?.Query["minutes"].ToString(), cancellationToken).ConfigureAwait(false);

    /// <summary><c>GET /api/services/{service}/events</c>.</summary>
    [Function("GetEvents")]
    public async Task<IActionResult> GetEvents(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "services/{service}/events")] HttpRequest request, string service, CancellationToken cancellationToken) =>
        await api.GetEventsAsync(service, cancellationToken).ConfigureAwait(false);

    /// <summary><c>PUT /api/services/{service}/events</c>.</summary>
    [Function("PutEvents")]
    public async Task<IActionResult> PutEvents(
        [HttpTrigger(AuthorizationLevel.Function, "put", Route = "services/{service}/events")] HttpRequest request, string service, CancellationToken cancellationToken) =>
        await api.PutEventsAsync(service, Body(request), request.Headers.IfMatch.ToString(), ControlEndpoints.Actor(request), cancellationToken, request.Headers.IfNoneMatch.ToString()).ConfigureAwait(false);

    /// <summary><c>GET /api/audit?day=yyyy-MM-dd</c>.</summary>
    [Function("GetAudit")]
    public async Task<IActionResult> GetAudit(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "audit")] HttpRequest request, CancellationToken cancellationToken) =>
        await api.GetAuditAsync(request?.Query["day"].ToString(), cancellationToken).ConfigureAwait(false);

    /// <summary><c>GET /api/routing</c>.</summary>
    [Function("ListRoutingTables")]
    public async Task<IActionResult> ListRoutingTables(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "routing")] HttpRequest request, CancellationToken cancellationToken) =>
        await api.ListRoutingTablesAsync(cancellationToken).ConfigureAwait(false);

    /// <summary><c>GET /api/routing/{service}</c>.</summary>
    [Function("GetRoutingTable")]
    public async Task<IActionResult> GetRoutingTable(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "routing/{service}")] HttpRequest request, string service, CancellationToken cancellationToken) =>
        await api.GetRoutingTableAsync(service, cancellationToken).ConfigureAwait(false);

    private static Stream Body(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Body;
    }
}
