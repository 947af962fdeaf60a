using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Shadowing.Router.Health;

/// <summary>
/// Who may see the router's details (every endpoint's address, health and last error in <c>/healthz</c>, and
/// <c>/metrics</c>) on its data-plane port: a caller presenting <c>Router:AdminToken</c> as a bearer token; without a
/// token configured, a direct loopback caller (a request that came through a proxy or Dapr, which carry forwarding or
/// caller headers, is not one). Everyone else gets only healthy or not.
/// </summary>
internal sealed class AdminAccess(IOptions<RouterOptions> options)
{
    private readonly byte[]? _token = options.Value.AdminToken is { Length: > 0 } token ? Encoding.UTF8.GetBytes(token) : null;

    /// <summary>Headers that say a request was passed on by something in between (a proxy on the same host, or daprd).</summary>
    /// <remarks>
    /// <c>X-Original-For</c>: ASP.NET Core's forwarded-headers middleware (<c>ASPNETCORE_FORWARDEDHEADERS_ENABLED</c>) moves
    /// the peer there and makes <c>X-Forwarded-For</c>'s value (the client's to choose, 127.0.0.1) the remote address.
    /// <para>
    /// A service mesh's sidecar reaches the app from loopback too and need not add <c>X-Forwarded-For</c>: Envoy (Istio)
    /// adds <c>X-Forwarded-Proto</c> and, under mTLS, <c>X-Forwarded-Client-Cert</c>, and sets
    /// <c>X-Envoy-Expected-Rq-Timeout-Ms</c>; Linkerd adds <c>l5d-client-id</c>; an HTTP proxy adds <c>Via</c>.
    /// </para>
    /// </remarks>
    private static readonly string[] Relayed =
    [
        "X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Original-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Client-Cert",
        "X-Envoy-Expected-Rq-Timeout-Ms", "l5d-client-id", "Via", "dapr-caller-app-id", "dapr-api-token",
    ];

    public bool Allows(HttpContext context)
    {
        if (_token is not null)
        {
            var sent = context.Request.Headers.Authorization;
            return sent.Count == 1 && sent[0] is { } value && value.StartsWith("Bearer ", StringComparison.Ordinal)
                && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(value[7..].Trim()), _token);
        }

        return context.Connection.RemoteIpAddress is { } remote && IsHostLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote)
            && !Array.Exists(Relayed, h => context.Request.Headers.ContainsKey(h));
    }

    /// <summary>
    /// 127.0.0.1 or ::1 only, not the rest of 127/8: Istio's sidecar passes inbound requests on from 127.0.0.6, so a pod
    /// elsewhere in the mesh would otherwise be a loopback caller.
    /// </summary>
    private static bool IsHostLoopback(IPAddress remote) => remote.Equals(IPAddress.Loopback) || remote.Equals(IPAddress.IPv6Loopback);

    /// <summary>401 problem for a caller that may not see the details.</summary>
    public Task RefuseAsync(HttpContext context)
    {
        if (_token is not null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        return Forwarding.Problems.WriteAsync(
            context,
            StatusCodes.Status401Unauthorized,
            "admin-only",
            "Admin only",
            _token is not null ? "Send Router:AdminToken as a bearer token." : "Only direct loopback callers may read this; set Router:AdminToken to allow others with a bearer token.",
            string.Empty,
            "admin_only");
    }
}
