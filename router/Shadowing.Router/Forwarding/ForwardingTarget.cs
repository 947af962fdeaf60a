using Shadowing.Core.Endpoints;
using Shadowing.Core.Routing;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Forwarding;

/// <summary>Per-request feature telling the transformer where the current attempt goes.</summary>
internal sealed class ForwardingTarget
{
    /// <summary>The request path below the service segment.</summary>
    public PathString Path { get; init; }

    public required RoutedEndpoint Endpoint { get; set; }

    public RouteKind Kind { get; set; }

    /// <summary>Dapr app id to put in <c>dapr-app-id</c>, or null for direct HTTP.</summary>
    public string? AppId => Endpoint.Address.Scheme == EndpointScheme.Dapr ? Endpoint.Address.Target : null;
}
