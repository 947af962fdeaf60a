using Shadowing.Core.Endpoints;

namespace Shadowing.Core.Routing;

/// <summary>One problem in a routing table, with the field that has it.</summary>
/// <param name="Field">Path of the field inside the table, for example <c>production[0].address</c>.</param>
/// <param name="Message">What is wrong and what is expected.</param>
public sealed record RoutingTableError(string Field, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>Checks routing tables before they are stored or served.</summary>
public static class RoutingTableValidator
{
    /// <summary>Returns every problem found; empty when the table is valid.</summary>
    public static IReadOnlyList<RoutingTableError> Validate(RoutingTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var errors = new List<RoutingTableError>();
        if (!ServiceNames.IsValid(table.Service))
        {
            errors.Add(new("service", $"'{table.Service}' is not a valid service name: {ServiceNames.Rule}"));
        }
        else if (ServiceNames.IsReserved(table.Service))
        {
            errors.Add(new("service", $"'{table.Service}' is reserved for the router's own endpoints ({string.Join(", ", ServiceNames.Reserved)})"));
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var production = table.Production ?? [];
        var shadows = table.Shadows ?? [];
        for (var i = 0; i < production.Count; i++)
        {
            var endpoint = production[i];
            var field = $"production[{i}]";
            if (endpoint is null)
            {
                errors.Add(new(field, "is null"));
                continue;
            }

            CheckEndpoint(field, endpoint.Id, endpoint.Address, ids, errors);
            if (endpoint.MaxConcurrency < 1)
            {
                errors.Add(new($"{field}.maxConcurrency", $"must be at least 1, was {endpoint.MaxConcurrency}"));
            }

            CheckLatency($"{field}.maxLatencyMs", endpoint.MaxLatencyMs, errors);
        }

        for (var i = 0; i < shadows.Count; i++)
        {
            var shadow = shadows[i];
            var field = $"shadows[{i}]";
            if (shadow is null)
            {
                errors.Add(new(field, "is null"));
                continue;
            }

            CheckEndpoint(field, shadow.Id, shadow.Address, ids, errors);
            if (!Enum.IsDefined(shadow.State))
            {
                errors.Add(new($"{field}.state", $"'{shadow.State}' is not a shadow state"));
            }

            if (shadow.MaxConcurrency is < 1)
            {
                errors.Add(new($"{field}.maxConcurrency", $"must be at least 1 when set, was {shadow.MaxConcurrency}"));
            }

            CheckLatency($"{field}.maxLatencyMs", shadow.MaxLatencyMs, errors);
        }

        if (table.Default is { } fallback)
        {
            CheckEndpoint("default", fallback.Id, fallback.Address, ids, errors);
        }

        if (production.Count == 0 && shadows.Count == 0 && table.Default is null)
        {
            errors.Add(new("production", "the table has no endpoints at all: give at least one production endpoint or a default"));
        }

        var rules = table.IdempotentRequests ?? [];
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            var field = $"idempotentRequests[{i}]";
            if (rule is null)
            {
                errors.Add(new(field, "is null"));
                continue;
            }

            if (string.IsNullOrEmpty(rule.Method) || !rule.Method.All(char.IsAsciiLetter))
            {
                errors.Add(new($"{field}.method", $"'{rule.Method}' is not an HTTP method"));
            }

            if (rule.PathPrefix is { } prefix && !prefix.StartsWith('/'))
            {
                errors.Add(new($"{field}.pathPrefix", $"'{prefix}' must start with '/'"));
            }
        }

        if (table.Validation is { } validation)
        {
            errors.AddRange(validation.Validate());
        }

        if (table.Mirror is { } mirror)
        {
            CheckMirror(mirror, shadows.Where(s => s is not null).Select(s => s.Id).ToHashSet(StringComparer.Ordinal), errors);
        }

        return errors;
    }

    private static void CheckMirror(Mirroring.MirrorPolicy mirror, IReadOnlySet<string> shadowIds, List<RoutingTableError> errors)
    {
        if (!double.IsFinite(mirror.Percent) || mirror.Percent is < 0 or > 100)
        {
            errors.Add(new("mirror.percent", $"must be between 0 and 100, was {mirror.Percent}"));
        }
        else if (mirror.Percent > 0 && mirror.Percent < 0.01)
        {
            errors.Add(new("mirror.percent", $"must be 0 or at least 0.01, was {mirror.Percent}"));
        }

        var selector = mirror.Selector ?? new Mirroring.MirrorSelector();
        if (!Enum.IsDefined(selector.Kind))
        {
            errors.Add(new("mirror.selector.kind", $"'{selector.Kind}' is not one of {string.Join(", ", Enum.GetNames<Mirroring.MirrorSelectorKind>())}"));
        }
        else if (selector.Kind != Mirroring.MirrorSelectorKind.Random && string.IsNullOrWhiteSpace(selector.Name))
        {
            errors.Add(new("mirror.selector.name", $"is required for a {selector.Kind} selector (the {selector.Kind.ToString().ToLowerInvariant()} holding the user or session key)"));
        }

        for (var i = 0; i < (mirror.Methods ?? []).Count; i++)
        {
            if (string.IsNullOrEmpty(mirror.Methods![i]) || !mirror.Methods[i].All(char.IsAsciiLetter))
            {
                errors.Add(new($"mirror.methods[{i}]", $"'{mirror.Methods[i]}' is not an HTTP method"));
            }
        }

        foreach (var (name, patterns) in new[] { ("includePaths", mirror.IncludePaths), ("excludePaths", mirror.ExcludePaths) })
        {
            for (var i = 0; i < (patterns ?? []).Count; i++)
            {
                if (string.IsNullOrEmpty(patterns![i]) || !patterns[i].StartsWith('/'))
                {
                    errors.Add(new($"mirror.{name}[{i}]", $"'{patterns[i]}' must be a path pattern starting with '/'"));
                }
            }
        }

        if (mirror.MaxBodyBytes is < 0 or > 16 * 1024 * 1024)
        {
            errors.Add(new("mirror.maxBodyBytes", $"must be between 0 and 16 MiB, was {mirror.MaxBodyBytes}"));
        }

        for (var i = 0; i < (mirror.Targets ?? []).Count; i++)
        {
            if (!shadowIds.Contains(mirror.Targets![i]))
            {
                errors.Add(new($"mirror.targets[{i}]", $"'{mirror.Targets[i]}' is not a shadow of this service"));
            }
        }

        if (!Enum.IsDefined(mirror.Transport))
        {
            errors.Add(new("mirror.transport", $"'{mirror.Transport}' is not one of {string.Join(", ", Enum.GetNames<Mirroring.MirrorTransport>())}"));
        }

        if (mirror.Timeout <= TimeSpan.Zero || mirror.Timeout > TimeSpan.FromMinutes(5))
        {
            errors.Add(new("mirror.timeout", $"must be more than 0 and at most 5 minutes, was {mirror.Timeout}"));
        }

        if (!double.IsFinite(mirror.SecondaryShare) || mirror.SecondaryShare is < 0 or > 1)
        {
            errors.Add(new("mirror.secondaryShare", $"must be between 0 and 1, was {mirror.SecondaryShare}"));
        }

        if (mirror.TimeShift < TimeSpan.Zero || mirror.TimeShift > TimeSpan.FromDays(1))
        {
            errors.Add(new("mirror.timeShift", $"must be between 0 and 1 day, was {mirror.TimeShift}"));
        }

        if (mirror.Amplify is < 1 or > 100)
        {
            errors.Add(new("mirror.amplify", $"must be between 1 and 100, was {mirror.Amplify}"));
        }

        if (mirror.RatePerSecond is { } rate && (!double.IsFinite(rate) || rate <= 0))
        {
            errors.Add(new("mirror.ratePerSecond", $"must be a positive number when set, was {rate}"));
        }

        if (mirror.TargetRatePerSecond is { } target && (!double.IsFinite(target) || target <= 0))
        {
            errors.Add(new("mirror.targetRatePerSecond", $"must be a positive number when set, was {target}"));
        }
        else if (mirror.TargetRatePerSecond is not null && mirror.Amplify != 1)
        {
            errors.Add(new("mirror.targetRatePerSecond", "cannot be set together with mirror.amplify: pace to a rate or replay each copy k times, not both"));
        }

        if (mirror.TimeToLive <= TimeSpan.Zero)
        {
            errors.Add(new("mirror.timeToLive", $"must be positive, was {mirror.TimeToLive}"));
        }
        else if (mirror.TimeToLive <= mirror.TimeShift)
        {
            errors.Add(new("mirror.timeToLive", $"({mirror.TimeToLive}) must be longer than mirror.timeShift ({mirror.TimeShift}), or every copy expires before it is replayed"));
        }
    }

    /// <summary>
    /// The problems of a table an operator or a tool writes whole (<see cref="RoutingTableStore.PutAsync"/>,
    /// <see cref="RoutingTableStore.CreateAsync"/>): <see cref="Validate"/>'s, and rules added since tables were first
    /// stored, which a stored table is not held to: it must keep routing, and its lifecycle updates keep working, after
    /// an upgrade.
    /// </summary>
    public static IReadOnlyList<RoutingTableError> ValidateNew(RoutingTable table)
    {
        var errors = Validate(table).ToList();
        if (table.Mirror is { } mirror)
        {
            if (mirror.Methods is { Count: 0 })
            {
                errors.Add(new("mirror.methods", "must name at least one method (leave it out for the default; mirror.enabled: false stops mirroring)"));
            }

            for (var i = 0; i < (mirror.Methods ?? []).Count; i++)
            {
                // The router answers these 405 itself, so no such request is ever forwarded or mirrored: listing them
                // promises a copy that never comes (and TRACE would echo a request's credentials back to a shadow).
                if (mirror.Methods![i] is { } method && (method.Equals("CONNECT", StringComparison.OrdinalIgnoreCase) || method.Equals("TRACE", StringComparison.OrdinalIgnoreCase)))
                {
                    errors.Add(new($"mirror.methods[{i}]", $"'{method}' is never mirrored: the router answers CONNECT and TRACE 405 and forwards neither"));
                }
            }

            if (mirror.RatePerSecond is { } rate && double.IsFinite(rate) && rate is > 0 and < 0.01)
            {
                errors.Add(new("mirror.ratePerSecond", $"must be at least 0.01 (one copy in 100 s) when set, was {rate}"));
            }

            if (mirror.TimeToLive > TimeSpan.FromDays(2))
            {
                errors.Add(new("mirror.timeToLive", $"must be at most 2 days, was {mirror.TimeToLive}"));
            }
        }

        if (table.Validation is { } validation)
        {
            errors.AddRange(validation.ValidateNew());
        }

        return errors;
    }

    /// <summary>Throws <see cref="RoutingTableValidationException"/> listing every problem, if there is any.</summary>
    public static void EnsureValid(RoutingTable table) => Throw(table, Validate(table));

    /// <summary>Throws <see cref="RoutingTableValidationException"/> listing every problem <see cref="ValidateNew"/> finds, if there is any.</summary>
    public static void EnsureValidNew(RoutingTable table) => Throw(table, ValidateNew(table));

    private static void Throw(RoutingTable table, IReadOnlyList<RoutingTableError> errors)
    {
        if (errors.Count > 0)
        {
            throw new RoutingTableValidationException(table.Service, errors);
        }
    }

    private static void CheckEndpoint(string field, string? id, string? address, HashSet<string> ids, List<RoutingTableError> errors)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            errors.Add(new($"{field}.id", "is required"));
        }
        else if (!ServiceNames.IsValid(id))
        {
            errors.Add(new($"{field}.id", $"'{id}' is not a valid endpoint id: {ServiceNames.Rule}"));
        }
        else if (!ids.Add(id))
        {
            errors.Add(new($"{field}.id", $"'{id}' is used by another endpoint of this service"));
        }

        if (!EndpointAddress.TryParse(address, out _, out var error))
        {
            errors.Add(new($"{field}.address", error));
        }
    }

    private static void CheckLatency(string field, double? value, List<RoutingTableError> errors)
    {
        if (value is { } ms && (!double.IsFinite(ms) || ms <= 0))
        {
            errors.Add(new(field, $"must be a positive number of milliseconds when set, was {ms}"));
        }
    }
}

/// <summary>Names of services and endpoints: they appear in URLs, state keys and metric labels.</summary>
public static class ServiceNames
{
    /// <summary>The rule, for error messages.</summary>
    public const string Rule = "1 to 63 characters of letters, digits, '-', '_' or '.', starting with a letter or digit";

    /// <summary>Names the router uses for its own endpoints (<c>/healthz</c>, <c>/metrics</c>, <c>/events/…</c>, <c>/dapr/subscribe</c>), so no service may have them.</summary>
    public static IReadOnlyList<string> Reserved { get; } = ["healthz", "metrics", "events", "dapr"];

    /// <summary>Whether <paramref name="service"/> is one of <see cref="Reserved"/> (case-insensitive).</summary>
    public static bool IsReserved(string service) => Reserved.Contains(service, StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="name"/> follows <see cref="Rule"/>.</summary>
    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name)
        && name.Length <= 63
        && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}

/// <summary>A routing table failed validation.</summary>
public sealed class RoutingTableValidationException(string service, IReadOnlyList<RoutingTableError> errors)
    : Exception($"The routing table of service '{service}' is invalid: {string.Join("; ", errors)}.")
{
    /// <summary>The service.</summary>
    public string Service { get; } = service;

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<RoutingTableError> Errors { get; } = errors;
}
