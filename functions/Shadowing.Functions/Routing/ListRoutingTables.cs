using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;

namespace Shadowing.Functions.Routing;

/// <summary><c>GET /api/routing</c>: every service's routing table.</summary>
public sealed class ListRoutingTables(RoutingTableStore tables)
{
    [Function(nameof(ListRoutingTables))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "routing")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var entries = await tables.ListAsync(cancellationToken).ConfigureAwait(false);
        return new JsonResult(entries.Select(e => e.Value).ToArray(), ShadowingJson.Options);
    }
}
