using System.Text.Json;
using Shadowing.Core.Data;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;

namespace Shadowing.Control;

/// <summary>Everything about one service an operator asks for: <c>GET /api/services/{service}</c>.</summary>
/// <param name="Service">The service.</param>
/// <param name="RoutingTable">Its routing table, or null when none is stored.</param>
/// <param name="Shadows">Its shadows (from the table) with their phases and latest verdicts.</param>
/// <param name="Requests">Its shadow requests whose window is open or ahead, with the decision and the workflow serving each.</param>
/// <param name="Forecast">The PAE's latest forecast document, as stored.</param>
/// <param name="Pae">What the PAE last did for the service and why, as stored.</param>
public sealed record ServiceStatus(
    string Service,
    RoutingTable? RoutingTable,
    IReadOnlyList<ShadowStatus> Shadows,
    IReadOnlyList<RequestStatus> Requests,
    JsonElement? Forecast,
    JsonElement? Pae);

/// <summary>One shadow: its phase in the routing table and its latest verdict.</summary>
public sealed record ShadowStatus(string Id, ShadowState Phase, string Address, string? Owner, DateTimeOffset? PhaseSince, Verdict? Verdict, DateTimeOffset? JudgedAt, IReadOnlyList<string>? Reasons, ShadowSyncRecord? Data = null, double? DataLagSeconds = null);

/// <summary>One shadow request, the guard rails' decision on it, and the workflow instance serving it.</summary>
public sealed record RequestStatus(ShadowRequest Request, ShadowPlan? Plan, WorkflowSummary? Workflow);

/// <summary>A workflow instance in brief: <c>GET /api/workflows/{instanceId}</c> has the rest.</summary>
/// <param name="InstanceId">The instance.</param>
/// <param name="RuntimeStatus">daprd's status (<c>RUNNING</c>, <c>COMPLETED</c>, …), <c>NOT_FOUND</c>, or <c>UNKNOWN</c> when the workflows app could not be asked.</param>
/// <param name="Phase">The lifecycle's phase from its custom status, when it has one.</param>
/// <param name="Error">Why the status is <c>UNKNOWN</c>.</param>
public sealed record WorkflowSummary(string InstanceId, string RuntimeStatus, string? Phase, string? Error = null);

/// <summary>A shadow request handed to SEP by hand: <c>POST /api/services/{service}/shadows</c>.</summary>
/// <param name="RequestId">The request's id (requests overlapping an open one of the service merge into it).</param>
/// <param name="Request">The request as stored.</param>
/// <param name="Status">Where to follow it.</param>
/// <param name="Note">Why nothing changed, when an open request already covered this one.</param>
public sealed record ShadowRequestAccepted(string RequestId, ShadowRequest Request, string Status, string? Note = null);

/// <summary>The router's records of a service over a window, per minute: <c>GET /api/services/{service}/traffic</c>.</summary>
public sealed record ServiceTraffic(string Service, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<TrafficMinute> Minutes);

/// <summary>One minute's requests by the role of the endpoint that served them (attempts, as the router records them), and errors.</summary>
public sealed record TrafficMinute(DateTimeOffset Minute, long Production, long Shadow, long Default, long Errors);
