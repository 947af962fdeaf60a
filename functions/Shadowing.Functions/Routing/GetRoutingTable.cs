using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;

namespace Shadowing.Functions.Routing;

/// <summary><c>GET /api/routing/{service}</c>: one service's routing table, with its ETag.</summary>
public sealed class GetRoutingTable(RoutingTableStore tables)
{
    [Function(nameof(GetRoutingTable))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "routing/{service}")] HttpRequest request,
        string service,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!ServiceNames.IsValid(service))
        {
            return new ObjectResult(new ProblemDetails { Status = 400, Title = "Invalid service name", Detail = $"'{service}' is not a service name: {ServiceNames.Rule}." }) { StatusCode = 400 };
        }

        var entry = await tables.GetAsync(service, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return new NotFoundObjectResult(new ProblemDetails { Status = 404, Title = "Unknown service", Detail = $"No routing table is stored for service '{service}'." });
        }

        request.HttpContext.Response.Headers.ETag = $"\"{entry.ETag}\"";
        return new JsonResult(entry.Value, ShadowingJson.Options);
    }
}
