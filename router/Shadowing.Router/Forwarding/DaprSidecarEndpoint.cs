namespace Shadowing.Router.Forwarding;

/// <summary>
/// Where the local Dapr sidecar's HTTP API listens, for <c>dapr://app-id</c> endpoints: <c>DAPR_HTTP_ENDPOINT</c>,
/// else <c>http://127.0.0.1:{DAPR_HTTP_PORT}</c>, else Dapr's default port 3500.
/// </summary>
internal sealed record DaprSidecarEndpoint(string Origin)
{
    public static DaprSidecarEndpoint FromConfiguration(IConfiguration configuration)
    {
        if (configuration["DAPR_HTTP_ENDPOINT"] is { Length: > 0 } endpoint)
        {
            return new DaprSidecarEndpoint(endpoint.TrimEnd('/'));
        }

        var port = configuration["DAPR_HTTP_PORT"] is { Length: > 0 } text && int.TryParse(text, out var p) ? p : 3500;
        return new DaprSidecarEndpoint($"http://127.0.0.1:{port}");
    }
}
