using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Shadowing.Router.Routing;

/// <summary>A routing file could not be used; the message names the file, the service and the field.</summary>
public sealed class RoutesFileException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>
/// Reads a routing file (JSON, or YAML when the extension is .yaml/.yml):
/// <code>
/// services:
///   orders:
///     production:
///       - { id: orders-1, address: http://127.0.0.1:5101, maxConcurrency: 64, maxLatencyMs: 250 }
///     shadows:
///       - { id: orders-shadow-1, address: dapr://orders-shadow, state: PreWarmed }
///     default: { id: orders-busy, address: http://127.0.0.1:5109 }
///     idempotentRequests:
///       - { method: POST, pathPrefix: /search }
/// </code>
/// Unknown fields are errors (a misspelt threshold must not be silently ignored).
/// </summary>
public static partial class RoutesFile
{
    private static readonly JsonSerializerOptions Strict = new(ShadowingJson.Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Reads and validates every table in the file.</summary>
    /// <exception cref="RoutesFileException">The file is missing, does not parse, or a table is invalid.</exception>
    public static IReadOnlyList<RoutingTable> Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RoutesFileException($"Routing file '{path}' cannot be read: {ex.Message}", ex);
        }

        JsonNode? root;
        try
        {
            var yaml = Path.GetExtension(path).ToUpperInvariant() is ".YAML" or ".YML";
            root = yaml ? ParseYaml(text) : JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception ex) when (ex is JsonException or YamlException or InvalidOperationException)
        {
            // YamlDotNet's scanner throws InvalidOperationException on some malformed plain scalars (found by the bad-input sweep).
            throw new RoutesFileException($"Routing file '{path}' does not parse: {ex.Message}", ex);
        }

        if (root is not JsonObject top || top["services"] is not JsonObject services || services.Count == 0)
        {
            throw new RoutesFileException($"Routing file '{path}' must have a 'services' map with at least one service, such as 'services: {{ orders: {{ production: [...] }} }}'.");
        }

        var tables = new List<RoutingTable>();
        var problems = new List<string>();
        foreach (var unknown in top.Where(p => p.Key != "services"))
        {
            problems.Add($"unknown top-level field '{unknown.Key}'");
        }

        foreach (var (service, node) in services)
        {
            if (node is not JsonObject table)
            {
                problems.Add($"service '{service}': must be a map with production, shadows, default and idempotentRequests");
                continue;
            }

            if (table["service"] is JsonValue named && named.ToString() != service)
            {
                problems.Add($"service '{service}': service: '{named}' differs from the key it is listed under");
                continue;
            }

            table["service"] = service;
            RoutingTable parsed;
            try
            {
                parsed = table.Deserialize<RoutingTable>(Strict) ?? throw new JsonException("the table is null");
            }
            catch (JsonException ex)
            {
                problems.Add($"service '{service}': {Describe(ex)}");
                continue;
            }

            var errors = RoutingTableValidator.Validate(parsed);
            problems.AddRange(errors.Select(e => $"service '{service}': {e}"));
            if (errors.Count == 0)
            {
                tables.Add(parsed);
            }
        }

        return problems.Count == 0
            ? tables
            : throw new RoutesFileException($"Routing file '{path}' is invalid:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", problems)}");
    }

    /// <summary>Turns a deserialization error into "field: what is wrong".</summary>
    private static string Describe(JsonException error)
    {
        var field = error.Path is { Length: > 2 } p ? p[2..] : "table";
        var message = error.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        message = cut > 0 ? message[..cut] : message;
        if (UnknownMember().Match(message) is { Success: true } unknown)
        {
            return $"{(field.EndsWith(unknown.Groups[1].Value, StringComparison.Ordinal) ? field : $"{field}.{unknown.Groups[1].Value}")}: unknown field";
        }

        if (MissingRequired().Match(message) is { Success: true } missing)
        {
            return $"{field}: missing required field(s) {missing.Groups[1].Value}";
        }

        if (message.Contains(typeof(ShadowState).FullName!, StringComparison.Ordinal))
        {
            return $"{field}: not a shadow state; use one of {string.Join(", ", Enum.GetNames<ShadowState>())}";
        }

        // Any other of the table's enumerations (a selector's kind, a transport, a direction): its values, not .NET's type name.
        if (NotConverted().Match(message) is { Success: true } converted
            && typeof(RoutingTable).Assembly.GetType(converted.Groups[1].Value) is { IsEnum: true } enumeration)
        {
            return $"{field}: not one of {string.Join(", ", Enum.GetNames(enumeration))}";
        }

        // The file may be YAML: the value, not "the JSON value".
        return $"{field}: {message.Replace("System.", string.Empty, StringComparison.Ordinal).Replace("The JSON value", "The value", StringComparison.Ordinal)}";
    }

    private static JsonNode? ParseYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Count == 0 ? null : ToJson(stream.Documents[0].RootNode);
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(
            c.Key is YamlScalarNode key ? key.Value ?? string.Empty : throw new YamlException(c.Key.Start, c.Key.End, "A map key must be a plain value."),
            ToJson(c.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(ToJson).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new YamlException(node.Start, node.End, $"Unsupported YAML node {node.NodeType}."),
    };

    /// <summary>YAML 1.2 core schema for plain scalars; quoted scalars are always strings.</summary>
    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? string.Empty;
        if (scalar.Style != ScalarStyle.Plain)
        {
            return JsonValue.Create(value);
        }

        if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(bool.Parse(value));
        }

        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        // .NET reads NaN, Infinity and out-of-range numbers as doubles that JSON cannot hold: those stay text.
        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
            ? JsonValue.Create(number)
            : JsonValue.Create(value);
    }

    [GeneratedRegex(@"could not be converted to ([\w.]+)\.")]
    private static partial Regex NotConverted();

    [GeneratedRegex("The JSON property '([^']+)' could not be mapped")]
    private static partial Regex UnknownMember();

    [GeneratedRegex("missing required properties including: (.+?)\\.?$")]
    private static partial Regex MissingRequired();
}

/// <summary>What the seed does with a service that already has a stored table.</summary>
public enum RoutingTableSeedMode
{
    /// <summary>Keeps it: its shadows, phases and promotions survive a restart (the router's <c>--routes</c> file).</summary>
    KeepStored,

    /// <summary>Overwrites it (the router's <c>--replace=true</c>).</summary>
    Replace,

    /// <summary>
    /// Keeps it, but its production and default endpoints are the source's: endpoints the host runs itself, as
    /// <c>shadowing up</c> runs its samples where its configuration says (one the source no longer names, or a shadow
    /// promoted to production, whose process ended with the host, is not listening any more).
    /// </summary>
    ProductionFromSource,
}

/// <summary>
/// Writes routing tables into the store when the host starts (a <c>--routes</c> file, or the tables of
/// <c>shadowing up</c>'s sample service); a service that already has a stored table is treated as <paramref name="mode"/>
/// says. Register it before the router so the tables are there when the router first loads.
/// </summary>
public sealed partial class RoutingTableSeeder(IReadOnlyList<RoutingTable> tables, string source, RoutingTableSeedMode mode, RoutingTableStore store, ILogger<RoutingTableSeeder> logger) : IHostedService
{
    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var kept = new List<string>();
        var updated = new List<string>();
        foreach (var table in tables)
        {
            if (mode == RoutingTableSeedMode.Replace)
            {
                await store.PutAsync(table, cancellationToken).ConfigureAwait(false);
            }
            else if (!await store.CreateAsync(table, cancellationToken).ConfigureAwait(false))
            {
                kept.Add(table.Service);
                if (mode == RoutingTableSeedMode.ProductionFromSource
                    && (await store.GetAsync(table.Service, cancellationToken).ConfigureAwait(false))?.Value is { } stored
                    && !SameEndpoints(WithEndpointsOf(stored, table), stored))
                {
                    await store.UpdateAsync(table.Service, current => WithEndpointsOf(current ?? table, table), cancellationToken).ConfigureAwait(false);
                    updated.Add(table.Service);
                }
            }
        }

        LogSeeded(tables.Count - kept.Count, source);
        if (updated.Count > 0)
        {
            LogUpdated(string.Join(", ", updated), source);
        }

        if (kept.Count > 0 && mode == RoutingTableSeedMode.ProductionFromSource)
        {
            LogKeptShadows(kept.Count, string.Join(", ", kept));
        }
        else if (kept.Count > 0)
        {
            LogKept(kept.Count, string.Join(", ", kept));
        }
    }

    /// <summary><paramref name="stored"/> with the production and default endpoints of <paramref name="source"/>; the rest is the stored table's.</summary>
    internal static RoutingTable WithEndpointsOf(RoutingTable stored, RoutingTable source) =>
        stored with { Production = source.Production, Default = source.Default };

    private static bool SameEndpoints(RoutingTable a, RoutingTable b) => a.Production.SequenceEqual(b.Production) && a.Default == b.Default;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 50, Level = LogLevel.Information, Message = "Seeded {Count} routing table(s) from {Source}")]
    private partial void LogSeeded(int count, string source);

    [LoggerMessage(EventId = 51, Level = LogLevel.Information, Message = "Kept the stored routing table(s) of {Count} service(s) ({Services}); start with --replace=true to overwrite them from the file (a service stored under another case is refused then: remove its table first)")]
    private partial void LogKept(int count, string services);

    [LoggerMessage(EventId = 52, Level = LogLevel.Information, Message = "Kept the shadows, mirror policy and settings of the stored routing table(s) of {Count} service(s) ({Services}); their production endpoints follow the configuration")]
    private partial void LogKeptShadows(int count, string services);

    [LoggerMessage(EventId = 53, Level = LogLevel.Warning, Message = "Updated the production endpoints of {Services} from {Source}: the stored table named others")]
    private partial void LogUpdated(string services, string source);
}
