using System.Diagnostics.CodeAnalysis;

namespace Shadowing.Core.Endpoints;

/// <summary>How a request reaches an endpoint.</summary>
public enum EndpointScheme
{
    /// <summary>Forwarded directly to an <c>http://</c> or <c>https://</c> URL.</summary>
    Http,

    /// <summary>Forwarded through the local Dapr sidecar to an app id (<c>dapr://app-id</c>).</summary>
    Dapr,
}

/// <summary>
/// An endpoint address: an absolute <c>http(s)://host[:port][/base]</c> URL, or <c>dapr://app-id[/base]</c> for
/// Dapr service invocation. Query strings and fragments are not allowed.
/// </summary>
public sealed record EndpointAddress
{
    private EndpointAddress(string text, EndpointScheme scheme, string target, string basePath)
    {
        Text = text;
        Scheme = scheme;
        Target = target;
        BasePath = basePath;
    }

    /// <summary>The address as written.</summary>
    public string Text { get; }

    /// <summary>Direct HTTP or Dapr invocation.</summary>
    public EndpointScheme Scheme { get; }

    /// <summary>For <see cref="EndpointScheme.Http"/> the origin (<c>http://host:port</c>); for Dapr the app id.</summary>
    public string Target { get; }

    /// <summary>Path prefix below the origin or app id, without a trailing '/'; empty when none.</summary>
    public string BasePath { get; }

    /// <summary>Parses an address or throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static EndpointAddress Parse(string text) =>
        TryParse(text, out var address, out var error) ? address : throw new FormatException(error);

    /// <summary>Parses an address; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out EndpointAddress? address, [NotNullWhen(false)] out string? error)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; expected an http(s):// URL or dapr://app-id";
            return false;
        }

        if (text.StartsWith("dapr://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = text["dapr://".Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var appId = slash < 0 ? rest : rest[..slash];
            var basePath = slash < 0 ? string.Empty : rest[slash..].TrimEnd('/');
            if (!IsValidAppId(appId))
            {
                error = $"'{text}' has an invalid Dapr app id '{appId}': use letters, digits, '-', '_' or '.', starting with a letter or digit";
                return false;
            }

            if (basePath.Contains('?', StringComparison.Ordinal) || basePath.Contains('#', StringComparison.Ordinal))
            {
                error = $"'{text}' must not have a query string or fragment";
                return false;
            }

            // The base goes into the sidecar's URL ({sidecar}/v1.0/invoke/{app}/method/{base}…), where dot segments would be
            // collapsed into daprd's own API (/v1.0/state/…): refused, and so is anything that decodes or turns into one
            // (an escaped dot or slash, a backslash). Other escapes (%20) stay valid, in stored tables too.
            if (basePath.Contains('\\', StringComparison.Ordinal) || basePath.Split('/').Any(s => Uri.UnescapeDataString(s) is "." or ".." || Uri.UnescapeDataString(s).AsSpan().IndexOfAny('/', '\\') >= 0))
            {
                error = $"'{text}' has a base path with a '.' or '..' segment, an escaped '/' or a '\\': it could leave the app's method path for daprd's own API";
                return false;
            }

            address = new EndpointAddress(text, EndpointScheme.Dapr, appId, basePath);
            error = null;
            return true;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            error = $"'{text}' is not an http(s):// URL or dapr://app-id";
            return false;
        }

        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            error = $"'{text}' must not have a query string, fragment or user info";
            return false;
        }

        address = new EndpointAddress(text, EndpointScheme.Http, uri.GetLeftPart(UriPartial.Authority), uri.AbsolutePath.TrimEnd('/'));
        error = null;
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    private static bool IsValidAppId(string appId)
    {
        if (appId.Length == 0 || !char.IsAsciiLetterOrDigit(appId[0]))
        {
            return false;
        }

        foreach (var c in appId)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
