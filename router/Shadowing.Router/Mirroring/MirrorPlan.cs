using System.Buffers;
using System.Buffers.Text;
using System.Collections.Frozen;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Randomness;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Mirroring;

/// <summary>Why a request was or was not mirrored (a label of <c>shadowing_mirror_decisions_total</c>).</summary>
internal enum MirrorDecision
{
    Mirrored,
    NotSampled,
    Method,
    Path,
    NoTarget,
    BodyTooLarge,
    Streaming,
}

/// <summary>Metric labels of <see cref="MirrorDecision"/>, without formatting an enum per request.</summary>
internal static class MirrorDecisions
{
    private static readonly string[] Labels = ["mirrored", "not_sampled", "method", "path", "no_target", "body_too_large", "streaming"];

    public static string Label(this MirrorDecision decision) => Labels[(int)decision];
}

/// <summary>
/// A service's mirror policy compiled when the routing snapshot is: methods and paths to match, the consistent-hash
/// threshold, and the shadows copies go to. <see cref="Decide"/> runs once per client request, before the failover
/// loop, and allocates nothing unless the request is mirrored.
/// </summary>
internal sealed class MirrorPlan
{
    private static readonly FrozenSet<string> SafeMethods = new[] { "GET", "HEAD", "OPTIONS" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    // Active too, safe requests only: PVU re-judges an Active shadow every minute, which takes copies to judge.
    private static readonly FrozenSet<ShadowState> MirroredStates = new[] { ShadowState.WarmingUp, ShadowState.Validating, ShadowState.PreWarmed, ShadowState.Active }.ToFrozenSet();
    private static readonly FrozenSet<ShadowState> WritableStates = new[] { ShadowState.WarmingUp, ShadowState.Validating, ShadowState.PreWarmed }.ToFrozenSet();
    private readonly FrozenSet<string> _methods;
    private readonly FrozenSet<string> _notAmplified;
    private readonly Regex[] _include;
    private readonly Regex[] _exclude;
    private readonly ulong _threshold;
    private readonly long _seed;
    private readonly double _share;

    private MirrorPlan(string service, MirrorPolicy policy, IReadOnlyList<RoutedEndpoint> safeTargets, IReadOnlyList<RoutedEndpoint> isolatedTargets, IReadOnlyList<RoutedEndpoint> production, IReadOnlyList<string> diffIgnore, FrozenSet<string> notAmplified)
    {
        _notAmplified = notAmplified;
        Service = service;
        Policy = policy;
        DiffIgnore = diffIgnore;
        SafeTargets = safeTargets;
        IsolatedTargets = isolatedTargets;
        Production = production;
        _methods = (policy.Methods ?? []).ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _include = [.. (policy.IncludePaths ?? []).Select(Glob)];
        _exclude = [.. (policy.ExcludePaths ?? []).Select(Glob)];
        _share = policy.Percent / 100.0;
        _threshold = policy.Percent >= 100 ? ulong.MaxValue : (ulong)(_share * 18446744073709551616.0);
        _seed = unchecked((long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(policy.Salt ?? service)));
    }

    public string Service { get; }

    public MirrorPolicy Policy { get; }

    /// <summary>
    /// Fields a copy's answer is compared without: the policy's <c>ignoreFields</c> and the validation settings'
    /// <c>mismatch.ignoreFields</c>, so that fields the judge ignores never fill the 64 listed differences and cut the
    /// list (which the judge counts as a difference).
    /// </summary>
    public IReadOnlyList<string> DiffIgnore { get; }

    /// <summary>Where copies of safe requests go.</summary>
    public IReadOnlyList<RoutedEndpoint> SafeTargets { get; }

    /// <summary>Whether <paramref name="target"/> takes a copy's replays (amplified warm-up): not an Active or Draining shadow.</summary>
    public bool TakesReplays(RoutedEndpoint target) => !_notAmplified.Contains(target.Id);

    /// <summary>Where copies of writes go: the targets with data of their own.</summary>
    public IReadOnlyList<RoutedEndpoint> IsolatedTargets { get; }

    /// <summary>Production endpoints, for the noise copies (a second production answer to the same request).</summary>
    public IReadOnlyList<RoutedEndpoint> Production { get; }

    /// <summary>
    /// Compiles <paramref name="table"/>'s policy; null when it mirrors nothing. Targets are the named shadows, or every
    /// shadow in WarmingUp, Validating, PreWarmed or Active; never a Retired or Failed one.
    /// </summary>
    public static MirrorPlan? Compile(RoutingTable table, IReadOnlyList<RoutedEndpoint> shadows, IReadOnlyList<RoutedEndpoint> production)
    {
        if (table.Mirror is not { Enabled: true, Percent: > 0 } policy)
        {
            return null;
        }

        var states = table.Shadows.ToDictionary(s => s.Id, StringComparer.Ordinal);
        var named = (policy.Targets ?? []).ToHashSet(StringComparer.Ordinal);
        var targets = shadows
            .Where(s => states.TryGetValue(s.Id, out var shadow)
                && shadow.State is not (ShadowState.Retired or ShadowState.Failed)
                && (named.Count > 0 ? named.Contains(s.Id) : MirroredStates.Contains(shadow.State)))
            .ToArray();
        if (targets.Length == 0)
        {
            return null;
        }

        // Writes only to a shadow still being warmed or kept warm: a named Active or Draining one serves real users from its
        // own data, which a mirrored write would change under them. None to a masked or synthetic copy: it would keep the
        // real values the write carries.
        var isolated = targets.Where(t => states[t.Id] is { DataIsolated: true, DataMasked: false } shadow && WritableStates.Contains(shadow.State)).ToArray();
        IReadOnlyList<string> diffIgnore = [.. (policy.IgnoreFields ?? []).Concat(table.Validation?.Mismatch.IgnoreFields ?? []).Distinct(StringComparer.Ordinal)];
        // An Active or Draining shadow carries real traffic: it gets a copy at most once, never the replays that amplify
        // another's warm-up.
        var notAmplified = targets.Where(t => states[t.Id].State is ShadowState.Active or ShadowState.Draining).Select(t => t.Id).ToFrozenSet(StringComparer.Ordinal);
        return new MirrorPlan(table.Service, policy, targets, isolated, production, diffIgnore, notAmplified);
    }

    /// <summary>
    /// Whether to mirror this request, and to which shadows. Writes go only to shadows with isolated data. The
    /// sample is consistent by the policy's key when the request has one (the same users always; a larger share only
    /// adds users), random otherwise (<paramref name="keyMissing"/> then says so).
    /// </summary>
    public MirrorDecision Decide(HttpRequest request, int serviceSegmentLength, IRandomSource random, out IReadOnlyList<RoutedEndpoint> targets, out bool keyMissing)
    {
        targets = [];
        keyMissing = false;
        var method = EffectiveMethod(request);
        if (!_methods.Contains(method))
        {
            return MirrorDecision.Method;
        }

        // A WebSocket or other upgrade, or a server-sent event stream, is a session rather than a request: a copy would
        // be a plain request the shadow answers differently, with production's "latency" the whole session. A gRPC call
        // needs HTTP/2, and copies go out over HTTP/1.1.
        if (request.Headers.Upgrade.Count > 0 || request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase)
            || request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            return MirrorDecision.Streaming;
        }

        targets = IsSafe(method) ? SafeTargets : IsolatedTargets;
        if (targets.Count == 0)
        {
            return MirrorDecision.NoTarget;
        }

        if (_include.Length > 0 || _exclude.Length > 0)
        {
            var path = request.Path.Value ?? "/";
            var below = path.Length > serviceSegmentLength ? path.AsSpan(serviceSegmentLength) : "/";
            if ((_include.Length > 0 && !Matches(_include, below)) || Matches(_exclude, below))
            {
                return MirrorDecision.Path;
            }

            // ASP.NET Core leaves an encoded slash encoded; a shadow whose server decodes it would serve /admin/purge for
            // /admin%2Fpurge, so such a path must pass the globs read both ways (a rare path: only it allocates).
            if (below.Contains("%2F", StringComparison.OrdinalIgnoreCase))
            {
                var decoded = below.ToString().Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
                if ((_include.Length > 0 && !Matches(_include, decoded)) || Matches(_exclude, decoded))
                {
                    return MirrorDecision.Path;
                }
            }
        }

        bool sampled;
        if (Policy.Selector.Kind == MirrorSelectorKind.Random)
        {
            sampled = random.NextDouble() < _share;
        }
        else if (KeyOf(request, Policy.Selector) is not { Length: > 0 } key)
        {
            keyMissing = true;
            sampled = random.NextDouble() < _share;
        }
        else
        {
            sampled = Hash(key) < _threshold;
        }

        if (!sampled)
        {
            return MirrorDecision.NotSampled;
        }

        // Known to be over the cap before a byte is read: not mirrored (counted), and nothing is buffered.
        return request.ContentLength is { } length && length > Policy.MaxBodyBytes ? MirrorDecision.BodyTooLarge : MirrorDecision.Mirrored;
    }

    /// <summary>GET, HEAD and OPTIONS: methods that change nothing, so they may go to any shadow.</summary>
    public static bool IsSafe(string method) => SafeMethods.Contains(method);

    /// <summary>Headers some frameworks read as the request's real method (a POST or GET tunnelling a PUT or DELETE).</summary>
    internal static readonly string[] MethodOverrideHeaders = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"];

    /// <summary>
    /// The method a request is mirrored as: its own, unless a method-override header names a method that is not safe (a
    /// GET with <c>X-HTTP-Method-Override: DELETE</c> is a write wherever the service honours the header; a POST with
    /// it, what ASP.NET Core's, Rails' and Express's overrides honour, is a DELETE, which the policy's <c>methods</c> may
    /// leave out). An override never makes a request safer.
    /// </summary>
    public static string EffectiveMethod(HttpRequest request)
    {
        foreach (var name in MethodOverrideHeaders)
        {
            if (request.Headers.TryGetValue(name, out var value) && value.ToString().Trim() is { Length: > 0 } named && !IsSafe(named))
            {
                return named.ToUpperInvariant();
            }
        }

        return request.Method;
    }

    /// <summary>The same for a request already taken out of its context (an envelope's method and headers).</summary>
    public static string EffectiveMethod(string method, IReadOnlyDictionary<string, string[]> headers)
    {
        foreach (var name in MethodOverrideHeaders)
        {
            foreach (var (header, values) in headers)
            {
                if (header.Equals(name, StringComparison.OrdinalIgnoreCase) && string.Join(",", values).Trim() is { Length: > 0 } named && !IsSafe(named))
                {
                    return named.ToUpperInvariant();
                }
            }
        }

        return method;
    }

    /// <summary>Whether a key is in the sample (for tests and tools: the same test <see cref="Decide"/> applies).</summary>
    public bool Samples(string key) => Hash(key) < _threshold;

    private ulong Hash(string key)
    {
        var max = Encoding.UTF8.GetMaxByteCount(key.Length);
        byte[]? rented = null;
        var bytes = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var written = Encoding.UTF8.GetBytes(key, bytes);
            return XxHash64.HashToUInt64(bytes[..written], _seed);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static string? KeyOf(HttpRequest request, MirrorSelector selector) => selector.Kind switch
    {
        MirrorSelectorKind.Header => request.Headers[selector.Name!].ToString(),
        MirrorSelectorKind.Cookie => request.Cookies[selector.Name!],
        MirrorSelectorKind.Query => request.Query[selector.Name!].ToString(),
        MirrorSelectorKind.JwtClaim => ClaimOf(request.Headers.Authorization.ToString(), selector.Name!),
        _ => null,
    };

    /// <summary>A claim of a bearer JWT's payload, read without validating the token: only its hash is ever used.</summary>
    internal static string? ClaimOf(string authorization, string claim)
    {
        const string bearer = "Bearer ";
        if (!authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var token = authorization.AsSpan(bearer.Length).Trim();
        var first = token.IndexOf('.');
        var second = first < 0 ? -1 : token[(first + 1)..].IndexOf('.');
        if (first < 0 || second < 0)
        {
            return null;
        }

        var payload = token.Slice(first + 1, second);
        var decoded = new byte[Base64Url.GetMaxDecodedLength(payload.Length)];
        if (Base64Url.DecodeFromChars(payload, decoded, out _, out var written) != OperationStatus.Done)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(decoded.AsMemory(0, written));
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(claim, out var value)
                ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
                : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null; // not JSON, or a name or value with an escaped lone surrogate, which has no string
        }
    }

    private static bool Matches(Regex[] patterns, ReadOnlySpan<char> path)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.IsMatch(path))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A path glob: <c>*</c> within a segment, <c>**</c> across segments, anchored at both ends; a trailing <c>/**</c>
    /// also matches the folder itself (<c>/admin/**</c> leaves out <c>/admin</c> too), and any other a trailing slash.
    /// </summary>
    internal static Regex Glob(string pattern)
    {
        var regex = new StringBuilder("^");
        var folder = pattern.EndsWith("/**", StringComparison.Ordinal);
        // A trailing slash is optional either way, as routing serves /admin/purge and /admin/purge/ alike.
        var body = folder ? pattern[..^3] : pattern.Length > 1 ? pattern.TrimEnd('/') : pattern;
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] == '*')
            {
                var across = i + 1 < body.Length && body[i + 1] == '*';
                regex.Append(across ? ".*" : "[^/]*");
                i += across ? 1 : 0;
            }
            else
            {
                regex.Append(Regex.Escape(body[i].ToString()));
            }
        }

        if (folder)
        {
            regex.Append("(/.*)?");
        }
        else if (!body.EndsWith('/'))
        {
            regex.Append("/?"); // an exclusion of /admin/purge leaves out /admin/purge/, and of /admin/purge/ /admin/purge
        }

        // Case-insensitive, as ASP.NET Core's routing is: /Admin/purge must not slip past an exclusion of /admin/**. Without
        // backtracking: the path is the client's, and several ** in one glob could otherwise take polynomial time on it.
        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant | RegexOptions.IgnoreCase | RegexOptions.NonBacktracking);
    }
}
