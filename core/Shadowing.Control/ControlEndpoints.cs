using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shadowing.Control.Workflows;
using Shadowing.Core.Serialization;

namespace Shadowing.Control;

/// <summary>The control routes on an ASP.NET Core host (the Functions app maps the same handlers as HTTP triggers).</summary>
public static class ControlEndpoints
{
    /// <summary>
    /// Maps <c>/api/workflows/…</c>, <c>/api/services/…</c> and <c>/api/routing…</c> to <see cref="ControlApi"/>; with
    /// <paramref name="daprWorkflowRoutes"/> (the embedded host, which has no daprd) also daprd's own
    /// <c>/v1.0/workflows/dapr/{instanceId}</c> (GET, <c>raiseEvent/{eventName}</c>, <c>terminate</c>), so scripts written
    /// against daprd work on <c>shadowing up</c>. <paramref name="workflowRoutesOnly"/> (the workflows host) maps only the
    /// workflow-instance routes. Returns the group, for the host's conventions (an app token, a host filter).
    /// </summary>
    public static RouteGroupBuilder MapShadowingControl(this IEndpointRouteBuilder app, bool daprWorkflowRoutes = false, bool workflowRoutesOnly = false)
    {
        ArgumentNullException.ThrowIfNull(app);
        var root = app.MapGroup(string.Empty);
        var api = root.MapGroup("/api");

        // On the workflows host the caller is the Functions app, which audits the action itself (with who asked for it):
        // recording it again here would add a second entry, by "anonymous from" the caller's sidecar.
        string? Who(HttpRequest r) => workflowRoutesOnly ? null : Actor(r);
        api.MapGet("/workflows/{instanceId}", (string instanceId, ControlApi c, CancellationToken ct) => c.GetWorkflowAsync(instanceId, ct));
        api.MapPost("/workflows/{instanceId}/events/{name}", (string instanceId, string name, HttpRequest r, ControlApi c, CancellationToken ct) => c.RaiseEventAsync(instanceId, name, r.Body, Who(r), ct));
        api.MapPost("/workflows/{instanceId}/terminate", (string instanceId, HttpRequest r, ControlApi c, CancellationToken ct) => c.TerminateAsync(instanceId, r.Body, Who(r), ct));
        if (workflowRoutesOnly)
        {
            return root; // the workflows host: only what the Functions app cannot do through its own sidecar
        }

        api.MapGet("/services/{service}", (string service, ControlApi c, CancellationToken ct) => c.GetServiceAsync(service, ct));
        api.MapPost("/services/{service}/shadows", (string service, HttpRequest r, ControlApi c, CancellationToken ct) => c.StartShadowsAsync(service, r.Body, Actor(r), ct));
        api.MapPost("/services/{service}/shadows/{shadowId}/promote", (string service, string shadowId, HttpRequest r, ControlApi c, CancellationToken ct) => c.PromoteAsync(service, shadowId, r.Body, Actor(r), ct));
        api.MapGet("/services/{service}/traffic", (string service, HttpRequest r, ControlApi c, CancellationToken ct) => c.GetTrafficAsync(service, r.Query["minutes"].ToString(), ct));
        api.MapGet("/services/{service}/events", (string service, ControlApi c, CancellationToken ct) => c.GetEventsAsync(service, ct));
        api.MapPut("/services/{service}/events", (string service, HttpRequest r, ControlApi c, CancellationToken ct) => c.PutEventsAsync(service, r.Body, r.Headers.IfMatch.ToString(), Actor(r), ct, r.Headers.IfNoneMatch.ToString()));
        api.MapGet("/audit", (HttpRequest r, ControlApi c, CancellationToken ct) => c.GetAuditAsync(r.Query["day"].ToString(), ct));
        api.MapGet("/routing", (ControlApi c, CancellationToken ct) => c.ListRoutingTablesAsync(ct));
        api.MapGet("/routing/{service}", (string service, ControlApi c, CancellationToken ct) => c.GetRoutingTableAsync(service, ct));
        if (daprWorkflowRoutes)
        {
            var dapr = root.MapGroup("/v1.0/workflows/dapr/{instanceId}");
            dapr.MapGet(string.Empty, async (string instanceId, ControlApi c, CancellationToken ct) => DaprShaped(await c.GetWorkflowAsync(instanceId, ct).ConfigureAwait(false), instanceId));
            dapr.MapPost("/raiseEvent/{eventName}", async (string instanceId, string eventName, HttpRequest r, ControlApi c, CancellationToken ct) => DaprShaped(await c.RaiseEventAsync(instanceId, eventName, r.Body, Actor(r), ct).ConfigureAwait(false), instanceId));
            dapr.MapPost("/terminate", async (string instanceId, HttpRequest r, ControlApi c, CancellationToken ct) => DaprShaped(await c.TerminateAsync(instanceId, Stream.Null, Actor(r), ct).ConfigureAwait(false), instanceId));
        }

        return root;
    }

    /// <summary>The header a caller names itself in for the audit log (a claim, not an authentication: kept with the address).</summary>
    public const string ActorHeader = "x-shadowing-actor";

    /// <summary>
    /// Who acts, for the audit log: the principal App Service authentication put in <c>x-ms-client-principal-name</c>
    /// (the Functions app behind Easy Auth), else the name the caller claims in <see cref="ActorHeader"/>, with the
    /// address it called from. The principal header is trusted only where App Service authentication is on
    /// (<c>WEBSITE_AUTH_ENABLED</c>, which App Service sets): only then does App Service strip a client's own copy.
    /// Anywhere else it is just another claim.
    /// </summary>
    public static string Actor(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var principal = request.Headers["x-ms-client-principal-name"].ToString();
        var trusted = string.Equals(request.HttpContext.RequestServices?.GetService<IConfiguration>()?["WEBSITE_AUTH_ENABLED"], "True", StringComparison.OrdinalIgnoreCase);
        var claimed = Name(request.Headers[ActorHeader].ToString() is { Length: > 0 } named ? named : principal);
        var who = trusted && principal.Length > 0 ? Name(principal) : claimed.Length > 0 ? $"{claimed} (claimed)" : "anonymous";
        return request.HttpContext.Connection.RemoteIpAddress is { } address ? $"{who} from {address}" : who;

        // Short enough that what follows it always survives the audit log's 200 characters: a name padded to that length
        // would otherwise push "(claimed)" and the address off the entry and pass for the principal.
        static string Name(string text)
        {
            var printable = new string([.. text.Where(c => !char.IsControl(c))]).Trim();
            return printable.Length > MaxActorName ? printable[..MaxActorName] + "…" : printable;
        }
    }

    /// <summary>The longest actor name kept (a claim or a principal); longer ones are cut, marked with an ellipsis.</summary>
    public const int MaxActorName = 100;

    /// <summary>Registers <see cref="ControlApi"/> with the <see cref="IWorkflowControl"/> registered before (or this app's own workflow client).</summary>
    public static IServiceCollection AddShadowingControl(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<IWorkflowControl, LocalWorkflowControl>();
        services.TryAddSingleton<ControlApi>();
        return services;
    }

    /// <summary>
    /// daprd's answers: its error body (<c>{"errorCode", "message"}</c>, <c>ERR_INSTANCE_ID_NOT_FOUND</c> for an unknown
    /// instance, and for an id no instance can have: daprd checks an id's characters and length only when a workflow is
    /// started, dapr/dapr <c>pkg/api/universal/workflow.go</c>) and an empty 202 for raiseEvent and terminate. A payload checked here, an ended instance and a workflow
    /// host that cannot be reached have no daprd code: <c>ERR_BAD_REQUEST</c>, <c>ERR_INSTANCE_ENDED</c> (409, final) and
    /// <c>ERR_WORKFLOWS_UNAVAILABLE</c> (502, 504: worth retrying) are this host's.
    /// </summary>
    private static IResult DaprShaped(ControlResult result, string instanceId) => result switch
    {
        { Status: StatusCodes.Status202Accepted } => Results.Accepted(),
        { Status: StatusCodes.Status400BadRequest, Body: ControlProblem { Errors: { } errors } } when errors.ContainsKey("instanceId") => Results.Json(
            new { errorCode = "ERR_INSTANCE_ID_NOT_FOUND", message = $"No workflow instance '{instanceId}'." },
            ShadowingJson.Options,
            statusCode: StatusCodes.Status404NotFound),
        { Body: ControlProblem problem } => Results.Json(
            new
            {
                errorCode = result.Status switch
                {
                    StatusCodes.Status404NotFound => "ERR_INSTANCE_ID_NOT_FOUND",
                    StatusCodes.Status400BadRequest => "ERR_BAD_REQUEST",
                    StatusCodes.Status409Conflict => "ERR_INSTANCE_ENDED",
                    _ => "ERR_WORKFLOWS_UNAVAILABLE",
                },
                // daprd's answers carry no field: the one this host checked leads the message, as in the control API's errors.
                message = problem.Errors is { Count: 1 } errors && errors.Keys.Single() is var field && field != "body" ? $"{field}: {problem.Detail}" : problem.Detail,
            },
            ShadowingJson.Options,
            statusCode: result.Status),
        _ => result,
    };
}
