using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Primitives;
using Shadowing.Core.Mirroring;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Mirroring;

/// <summary>
/// A mirrored request taken out of its <see cref="HttpContext"/> once production has answered: what to send (already
/// cleaned of credentials and configured fields), where, and what production answered. Owns its pooled bodies.
/// </summary>
internal sealed partial class MirrorJob : IDisposable
{
    /// <summary>Credentials never copied to a shadow, whatever the policy says.</summary>
    public static readonly IReadOnlyList<string> Credentials =
    [
        "Authorization", "Proxy-Authorization", "Cookie", "dapr-api-token", "x-functions-key",
        "X-Api-Key", "Ocp-Apim-Subscription-Key", // API keys (API Management's among them)
        "X-Forwarded-Client-Cert", "X-ARR-ClientCert", // a client certificate a proxy in front passed on
        "X-ZUMO-AUTH", // Container Apps' and App Service's authentication: a client's session token
        "api-key", "X-Auth-Token", // Azure OpenAI's and AI Search's keys; OpenStack's and many APIs' tokens
        "X-Goog-Iap-Jwt-Assertion", // the identity Google's IAP vouches for (Cloudflare Access's: the Cf-Access- prefix)
        "ssl-client-cert", // the client certificate ingress-nginx passes on (its verification and subject: ssl-client-)
        "X-Serverless-Authorization", // a bearer ID token Cloud Run accepts in place of Authorization
        "apikey", "X-Goog-Api-Key", "X-Amz-Security-Token", // Kong's and Supabase's API keys, Google's, AWS session tokens
        // oauth2-proxy's: the signed-in user's access token (--pass-access-token) and the identity it vouches for
        "X-Forwarded-Access-Token", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
        "X-Access-Token", "X-API-Token", "Private-Token", "X-Vault-Token", // common bearer-token headers (GitLab's, Vault's)
        "X-CSRF-Token", "X-XSRF-Token", // a session's anti-forgery token: with the session's cookie gone it only leaks
    ];

    /// <summary>
    /// Query parameters that carry credentials, never copied whatever the policy says: Azure Functions' key
    /// (<c>code</c>), API Management's (<c>subscription-key</c>), OAuth bearer tokens in a URL (RFC 6750 §2.3, SignalR's
    /// long polling), SAS signatures (<c>sig</c>) and the usual API-key names.
    /// </summary>
    public static readonly IReadOnlyList<string> CredentialQuery =
    [
        "code", "subscription-key", "access_token", "id_token", "refresh_token", "client_secret", "sig", "api_key", "apikey", "api-key", "x-api-key",
        "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", // an S3 presigned URL's
        "X-Goog-Signature", "X-Goog-Credential", // a Cloud Storage signed URL's
        "password", "jsessionid", "PHPSESSID", // not "token" nor "key": page cursors and other things as often as credentials
    ];

    /// <summary>
    /// Prefixes of credential headers: Container Apps' and App Service's authentication puts the signed-in user's
    /// tokens in <c>X-MS-TOKEN-AAD-ACCESS-TOKEN</c> and the like, and the identity it vouches for in
    /// <c>X-MS-CLIENT-PRINCIPAL</c>, <c>-ID</c>, <c>-NAME</c> and <c>-IDP</c>, which an app behind it trusts as the user.
    /// The other fronting proxies' alike: oauth2-proxy's <c>X-Auth-Request-</c>, Google IAP's
    /// <c>X-Goog-Authenticated-User-</c>, Cloudflare Access's <c>Cf-Access-</c>, ALB's <c>X-Amzn-Oidc-</c> and its client
    /// certificates (<c>X-Amzn-Mtls-Clientcert</c>), Traefik's (<c>X-Forwarded-Tls-Client-Cert</c> and <c>-Info</c>) and
    /// ingress-nginx's (<c>ssl-client-</c>).
    /// </summary>
    public static readonly IReadOnlyList<string> CredentialPrefixes =
    [
        "dapr-", "X-MS-TOKEN-", "X-MS-CLIENT-PRINCIPAL", "X-Amzn-Oidc-", "X-Auth-Request-", "X-Goog-Authenticated-", "Cf-Access-",
        "X-Amzn-Mtls-", "X-Forwarded-Tls-Client-Cert", "ssl-client-",
    ];

    /// <summary>The header that marks a copy; a client's own is removed from what production gets too.</summary>
    public const string MirrorHeader = "x-shadow-mirror";

    private const string ShadowingPrefix = "x-shadowing-";

    /// <summary>The forwarding headers YARP sets on production's request (its defaults), replacing the client's.</summary>
    private static readonly HashSet<string> RouterForwarded = new(StringComparer.OrdinalIgnoreCase) { "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix" };

    private static readonly HashSet<string> NotCopied = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade", "Proxy-Connection", "Expect",
        MirrorHeader, "traceparent", "tracestate", "Forwarded",
    };

    public required MirrorPlan Plan { get; init; }

    public required string Id { get; init; }

    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>The request's method, as production got it and the copy is sent.</summary>
    public required string Method { get; init; }

    /// <summary>
    /// Whether the copy may go to every shadow: a safe method not tunnelling a write through a method-override header
    /// (see <see cref="MirrorPlan.EffectiveMethod(HttpRequest)"/>).
    /// </summary>
    public required bool Safe { get; init; }

    /// <summary>The path below the service.</summary>
    public required string Path { get; init; }

    /// <summary>The same as the client sent it, when it has escapes (see <see cref="Forwarding.EndpointTransformer.RawBelow"/>).</summary>
    public string? RawPath { get; init; }

    /// <summary>The query string with configured parameters removed ('?…' or empty).</summary>
    public required string Query { get; init; }

    /// <summary>Request headers without hop-by-hop headers, credentials and the policy's list.</summary>
    public required IReadOnlyList<KeyValuePair<string, string[]>> Headers { get; init; }

    public string? ContentType { get; init; }

    /// <summary>The request body as the client sent it (configured JSON fields are removed when the copy is built).</summary>
    public required CaptureBuffer RequestBody { get; init; }

    public required string ProductionEndpoint { get; init; }

    /// <summary>Production's status; 0 when it did not answer.</summary>
    public required int ProductionStatus { get; init; }

    public required double ProductionLatencyMs { get; init; }

    public string? ProductionError { get; init; }

    /// <summary>Production's response body, captured up to the cap.</summary>
    public required CaptureBuffer ProductionBody { get; init; }

    /// <summary>Production's <c>Content-Encoding</c>, if it compressed its answer.</summary>
    public string? ProductionContentEncoding { get; init; }

    public required IReadOnlyList<RoutedEndpoint> Targets { get; init; }

    /// <summary>A second production endpoint to send the same copy to (production's own noise), if chosen.</summary>
    public RoutedEndpoint? Secondary { get; init; }

    public required string TraceParent { get; init; }

    /// <summary>Production's body when it was captured whole and production answered; null otherwise.</summary>
    public ReadOnlyMemory<byte>? ComparableProductionBody =>
        ProductionStatus == 0 || ProductionBody.Overflowed ? null : ProductionBody.Written;

    /// <summary>The same, decoded (see <see cref="ContentDecoding"/>): what an answer is compared with.</summary>
    public ReadOnlyMemory<byte>? DecodedProductionBody(int maxBytes) =>
        ComparableProductionBody is { } body ? ContentDecoding.Decode(body, ProductionContentEncoding, maxBytes) : null;

    /// <summary>What production answered, for an outcome.</summary>
    public EndpointAnswer ProductionAnswer() => new(
        ProductionEndpoint,
        ProductionStatus,
        Math.Round(ProductionLatencyMs, 3),
        ProductionBody.Seen,
        ComparableProductionBody is { } body ? Digest(body.Span) : null,
        ProductionError);

    public void Dispose()
    {
        RequestBody.Dispose();
        ProductionBody.Dispose();
    }

    /// <summary>
    /// The request headers a copy carries: everything but hop-by-hop headers, credentials, the policy's list and the
    /// router's own control headers (<c>x-shadowing-*</c>, removed from what production gets too), with the forwarding
    /// headers production gets from YARP's defaults (<c>X-Forwarded-For</c>, <c>-Proto</c>, <c>-Host</c>, <c>-Prefix</c>
    /// set from the request, a client's <c>Forwarded</c> removed, other <c>X-Forwarded-*</c> passed on as to production)
    /// rather than whatever the client sent: a shadow that trusts them for allow-lists or builds links from them sees
    /// what production sees.
    /// </summary>
    public static List<KeyValuePair<string, string[]>> CopyHeaders(HttpRequest request, MirrorPolicy policy)
    {
        var copied = CopyHeaders(
            request.Headers.Where(h => !RouterForwarded.Contains(h.Key)).Select(h => KeyValuePair.Create(h.Key, (string[])h.Value.ToArray()!)).ToList(),
            policy);

        // The router's own, as production gets them: a client's Connection header cannot take them off (it names headers
        // of its own hop), but the policy can (stripping X-Forwarded-For keeps clients' addresses from shadows and envelopes).
        var strip = policy.StripHeaders ?? [];
        void Forward(string name, string value)
        {
            if (!strip.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                copied.Add(new(name, [value]));
            }
        }

        if (request.HttpContext.Connection.RemoteIpAddress is { } client)
        {
            Forward("X-Forwarded-For", client.ToString());
        }

        Forward("X-Forwarded-Proto", request.Scheme);
        if (request.Host.HasValue)
        {
            Forward("X-Forwarded-Host", request.Host.ToUriComponent());
        }

        if (request.PathBase.HasValue)
        {
            Forward("X-Forwarded-Prefix", request.PathBase.ToUriComponent());
        }

        return copied;
    }

    /// <summary>
    /// The same for headers already taken out of a request: the replayer applies it again to each envelope, so a copy
    /// never carries a credential whoever published the envelope and whatever the policy was then.
    /// </summary>
    public static List<KeyValuePair<string, string[]>> CopyHeaders(IReadOnlyCollection<KeyValuePair<string, string[]>> headers, MirrorPolicy policy)
    {
        var strip = policy.StripHeaders ?? [];

        // RFC 9110 §7.6.1: headers named in Connection are for the hop to the router only; production never gets them.
        var hopOnly = headers.Where(h => h.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            .SelectMany(h => h.Value).SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var copied = new List<KeyValuePair<string, string[]>>(headers.Count);
        foreach (var (name, values) in headers)
        {
            if (NotCopied.Contains(name)
                || name.StartsWith(ShadowingPrefix, StringComparison.OrdinalIgnoreCase)
                || hopOnly.Contains(name)
                || IsCredential(name)
                || (name.Contains('_', StringComparison.Ordinal) && IsCredential(name.Replace('_', '-'))) // X_Api_Key: CGI-style stacks read it as X-Api-Key
                || strip.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            // The page the request came from carries the same credentials in its query as a URL would (a sign-in
            // callback's code, a reset link's token): stripped as the copy's own query is.
            copied.Add(new(name, name.Equals("Referer", StringComparison.OrdinalIgnoreCase) ? [.. values.Select(v => WithoutCredentials(v, policy))] : values));
        }

        return copied;
    }

    /// <summary>A URL with its path and query as <see cref="CopyPath"/> and <see cref="CopyQuery"/> leave them.</summary>
    private static string WithoutCredentials(string? url, MirrorPolicy policy)
    {
        if (url is null)
        {
            return string.Empty;
        }

        var end = url.IndexOf('#', StringComparison.Ordinal) is var hash and >= 0 ? hash : url.Length;
        var start = url.IndexOf('?', 0, end) is var question and >= 0 ? question : end;
        if (url.AsSpan(0, end).IndexOfAny('?', ';') < 0)
        {
            return url;
        }

        var query = start < end ? CopyQuery(new QueryString(url[start..end]), policy) : string.Empty;
        return string.Concat(CopyPath(url[..start]), query, url.AsSpan(end));
    }

    private static bool IsCredential(string name) =>
        Credentials.Contains(name, StringComparer.OrdinalIgnoreCase) || CredentialPrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The query string without <see cref="CredentialQuery"/> and the policy's parameters (names decoded and matched
    /// case-insensitively, as ASP.NET Core binds them); the rest kept as the client sent it, in its order, case and encoding.
    /// A query that names none of them is returned as it is, without allocating (the common case on every mirrored request).
    /// </summary>
    public static string CopyQuery(QueryString query, MirrorPolicy policy)
    {
        var strip = policy.StripQuery ?? [];
        if (!query.HasValue || !AnyRemoved(query.Value.AsSpan(1), strip))
        {
            return query.Value ?? string.Empty;
        }

        var raw = query.Value.AsSpan(1);
        var kept = new System.Text.StringBuilder(raw.Length + 1);
        foreach (var range in raw.Split('&'))
        {
            var pair = raw[range];
            if (pair.IsEmpty || Removed(NameOf(pair), strip))
            {
                continue;
            }

            kept.Append(kept.Length == 0 ? '?' : '&').Append(pair);
        }

        return kept.ToString();
    }

    /// <summary>Path parameters that carry a session: a servlet container's, PHP's with <c>session.use_trans_sid</c>.</summary>
    public static readonly IReadOnlyList<string> SessionPathParameters = ["jsessionid", "PHPSESSID"];

    /// <summary>
    /// The path without the values of session path parameters (<c>;name=value</c> in a segment, RFC 3986 §3.3,
    /// <see cref="SessionPathParameters"/>): a servlet container whose client refuses cookies writes the session into
    /// every URL (<c>/cart;jsessionid=…/items</c>), and the shadow would get production's session. Only those: other
    /// matrix parameters (<c>/countries;code=US</c>) are the resource's name, which the query's credential names are not.
    /// The name stays (<c>/cart;jsessionid/items</c>, no session): removed whole, <c>/..;jsessionid=…/</c> would become a
    /// dot segment and leave the shadow's base path. The rest is kept as sent; a path without a <c>;</c> is returned as it is.
    /// </summary>
    public static string CopyPath(string path)
    {
        var next = path.IndexOf(';', StringComparison.Ordinal);
        if (next < 0)
        {
            return path;
        }

        System.Text.StringBuilder? kept = null;
        var copiedUpTo = 0;
        while (next >= 0)
        {
            var end = path.AsSpan(next + 1).IndexOfAny(';', '/') is var length and >= 0 ? next + 1 + length : path.Length;
            var name = NameOf(path.AsSpan(next + 1, end - next - 1));
            if (next + 1 + name.Length < end && IsSessionParameter(name))
            {
                (kept ??= new System.Text.StringBuilder(path.Length)).Append(path, copiedUpTo, next + 1 + name.Length - copiedUpTo);
                copiedUpTo = end;
            }

            next = end < path.Length ? path.IndexOf(';', end) : -1;
        }

        return kept is null ? path : kept.Append(path, copiedUpTo, path.Length - copiedUpTo).ToString();
    }

    private static bool IsSessionParameter(ReadOnlySpan<char> name)
    {
        var decoded = name.Contains('%') ? Uri.UnescapeDataString(name.ToString()).AsSpan() : name;
        foreach (var session in SessionPathParameters)
        {
            if (decoded.Equals(session, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyRemoved(ReadOnlySpan<char> raw, IReadOnlyList<string> strip)
    {
        foreach (var range in raw.Split('&'))
        {
            if (Removed(NameOf(raw[range]), strip))
            {
                return true;
            }
        }

        return false;
    }

    private static ReadOnlySpan<char> NameOf(ReadOnlySpan<char> pair) => pair.IndexOf('=') is var end and >= 0 ? pair[..end] : pair;

    /// <summary>Whether a parameter name (as sent: decoded only when it has escapes) is a credential or one the policy strips.</summary>
    private static bool Removed(ReadOnlySpan<char> name, IReadOnlyList<string> strip)
    {
        if (name.IsEmpty)
        {
            return false;
        }

        var decoded = name.IndexOfAny('%', '+') >= 0 ? Uri.UnescapeDataString(name.ToString().Replace('+', ' ')).AsSpan() : name;
        foreach (var credential in CredentialQuery)
        {
            if (decoded.Equals(credential, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        foreach (var field in strip)
        {
            if (decoded.Equals(field, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The body without the policy's JSON fields (dotted paths, names matched case-insensitively as ASP.NET Core binds
    /// them, through arrays); unchanged when nothing is to be removed or it is not JSON. A body is JSON when labelled so,
    /// or when it starts as an object or array does whatever its label: many services parse a <c>text/plain</c> body
    /// (what <c>sendBeacon</c> sends) or one with no Content-Type as JSON. Null when fields are to be removed and the body
    /// cannot be read (content-encoded, or JSON that is not valid): such a copy is not sent, since what it carries cannot
    /// be known to be clean.
    /// </summary>
    public static ReadOnlyMemory<byte>? CopyBody(ReadOnlyMemory<byte> body, string? contentType, IReadOnlyList<KeyValuePair<string, string[]>> headers, MirrorPolicy policy)
    {
        var strip = policy.StripJsonFields ?? [];
        if (strip.Count == 0 || body.IsEmpty)
        {
            return body;
        }

        if (headers.Any(h => h.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Any(v => !string.IsNullOrWhiteSpace(v) && !v.Trim().Equals("identity", StringComparison.OrdinalIgnoreCase))))
        {
            return null;
        }

        // A form binds its fields as JSON's would (card.number, card[number], items[0].card.number): stripped alike. A
        // multipart body's parts cannot be known to be clean.
        if (contentType?.Contains("multipart/", StringComparison.OrdinalIgnoreCase) == true)
        {
            return null;
        }

        // A UTF-8 byte order mark, which the JSON reader refuses but many parsers skip.
        var json = body.Span.StartsWith("\uFEFF"u8) ? body.Span[3..] : body.Span;

        // A JSON body labelled as a form (jQuery's default Content-Type for a JSON.stringify'd body) is stripped as JSON: read
        // as a form it is one field named by the whole object, which matches nothing.
        var form = contentType?.Contains("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) == true;
        if (form && !StartsAsObjectOrArray(json))
        {
            return StripForm(body.Span, strip);
        }

        if (!form && contentType?.Contains("json", StringComparison.OrdinalIgnoreCase) != true && !StartsAsObjectOrArray(json))
        {
            return body;
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (System.Text.Json.JsonException)
        {
            if (form)
            {
                return StripForm(body.Span, strip); // a form field that happens to start with a bracket
            }

            return null;
        }

        // Compared with the form as StripForm writes it unstripped (it leaves out empty pairs: "a && b" in a string is no field).
        if (form && StripForm(body.Span, strip).Length != StripForm(body.Span, []).Length)
        {
            return null; // valid JSON, but read as the form it is labelled, it names a field to strip: cannot be known clean
        }

        try
        {
            foreach (var field in strip)
            {
                Remove(root, field.Split('.'), 0);
            }

            return System.Text.Encoding.UTF8.GetBytes(root?.ToJsonString() ?? "null");
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // Duplicate property names (JsonObject refuses them when first indexed), or a name with an escaped lone
            // surrogate, which has no string: not stripped, so not sent.
            return null;
        }

        static ReadOnlyMemory<byte> StripForm(ReadOnlySpan<byte> form, IReadOnlyList<string> strip)
        {
            var text = System.Text.Encoding.UTF8.GetString(form);
            var kept = new System.Text.StringBuilder(text.Length);
            foreach (var pair in text.Split('&'))
            {
                var end = pair.IndexOf('=', StringComparison.Ordinal);
                var name = Uri.UnescapeDataString((end >= 0 ? pair[..end] : pair).Replace('+', ' '));

                // As ASP.NET Core's model binding reads it: indexes dropped, [name] as .name, and from the root or under one
                // prefix it binds away (Razor Pages' Input.Password is the model's Password), never deeper (customer.id is
                // not the model's id, as in JSON).
                var path = FormIndex().Replace(name, string.Empty).Replace('[', '.').Replace("]", string.Empty, StringComparison.Ordinal);
                var unprefixed = path.IndexOf('.', StringComparison.Ordinal) is var dot and >= 0 ? path[(dot + 1)..] : null;
                if (pair.Length == 0 || strip.Any(f => Matches(path, f) || (unprefixed is not null && Matches(unprefixed, f))))
                {
                    continue;
                }

                kept.Append(kept.Length == 0 ? string.Empty : "&").Append(pair);
            }

            return System.Text.Encoding.UTF8.GetBytes(kept.ToString());
        }

        static bool Matches(string path, string field) =>
            path.Equals(field, StringComparison.OrdinalIgnoreCase) || path.StartsWith(field + ".", StringComparison.OrdinalIgnoreCase);

        static bool StartsAsObjectOrArray(ReadOnlySpan<byte> body)
        {
            var first = body.IndexOfAnyExcept(" \t\r\n"u8);
            return first >= 0 && body[first] is (byte)'{' or (byte)'[';
        }

        static void Remove(JsonNode? node, string[] parts, int depth)
        {
            if (node is JsonArray array)
            {
                foreach (var item in array)
                {
                    Remove(item, parts, depth);
                }

                return;
            }

            if (node is not JsonObject obj)
            {
                return;
            }

            foreach (var name in obj.Select(p => p.Key).Where(k => k.Equals(parts[depth], StringComparison.OrdinalIgnoreCase)).ToList())
            {
                if (depth == parts.Length - 1)
                {
                    obj.Remove(name);
                }
                else
                {
                    Remove(obj[name], parts, depth + 1);
                }
            }
        }
    }

    /// <summary>A W3C traceparent for the copy: the original request's trace (its activity's, or its header's), a new span.</summary>
    public static string LinkedTraceParent(ActivityTraceId current, StringValues original)
    {
        var traceId = current != default ? current.ToHexString()
            : original.Count == 1 && original[0] is { Length: 55 } header ? header.Substring(3, 32)
            : ActivityTraceId.CreateRandom().ToHexString();
        return $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
    }

    /// <summary>SHA-256 of a body, hex.</summary>
    public static string Digest(ReadOnlySpan<byte> body) => Convert.ToHexStringLower(SHA256.HashData(body));

    [System.Text.RegularExpressions.GeneratedRegex(@"\[\d*\]")]
    private static partial System.Text.RegularExpressions.Regex FormIndex();
}
