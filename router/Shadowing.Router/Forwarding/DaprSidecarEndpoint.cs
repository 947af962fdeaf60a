using Shadowing.Core.Endpoints;

namespace Shadowing.Router.Forwarding;

/// <summary>
/// The local Dapr sidecar's HTTP API, for <c>dapr://app-id</c> endpoints: <c>DAPR_HTTP_ENDPOINT</c>, else
/// <c>http://127.0.0.1:{DAPR_HTTP_PORT}</c>, else Dapr's default port 3500; and the token daprd requires on its API
/// (<c>DAPR_API_TOKEN</c>), which raw HTTP calls must send themselves (the Dapr SDK adds it to its own calls).
/// </summary>
internal sealed record DaprSidecarEndpoint(string Origin, string? ApiToken)
{
    /// <summary>The header daprd reads its API token from, and sends the app's token in.</summary>
    public const string ApiTokenHeader = "dapr-api-token";

    public static DaprSidecarEndpoint FromConfiguration(IConfiguration configuration) =>
        new(Dapr.DaprSidecarClient.HttpOrigin(configuration), Dapr.DaprSidecarClient.ApiToken(configuration));

    /// <summary>
    /// Where requests for <paramref name="address"/> go: its origin and base path, or for a Dapr app the sidecar's
    /// invoke API (<c>{sidecar}/v1.0/invoke/{app}/method{base}</c>). Never the sidecar with a <c>dapr-app-id</c>
    /// header: daprd matches its own API routes first, so a client path like <c>/v1.0/shutdown</c> would reach them.
    /// </summary>
    public string PrefixOf(EndpointAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.Scheme == EndpointScheme.Dapr
            ? $"{Origin}/v1.0/invoke/{Uri.EscapeDataString(address.Target)}/method{address.BasePath}"
            : address.Target + address.BasePath;
    }
}
