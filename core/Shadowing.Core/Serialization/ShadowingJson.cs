using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shadowing.Core.Serialization;

/// <summary>
/// The one JSON shape used for state values and event payloads, whichever adapter stores them:
/// web defaults (camelCase, case-insensitive reads, like Dapr's own serializer) plus enums as strings,
/// so that stored documents stay readable and stable when enum members are reordered.
/// </summary>
public static class ShadowingJson
{
    /// <summary>Shared, read-only serializer options.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>Serializes <paramref name="value"/> to UTF-8 JSON bytes.</summary>
    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>Deserializes UTF-8 JSON bytes; throws <see cref="JsonException"/> when they do not fit <typeparamref name="T"/>.</summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> utf8Json) =>
        JsonSerializer.Deserialize<T>(utf8Json, Options)
        ?? throw new JsonException($"The JSON document is null where a {typeof(T).Name} was expected.");

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            RespectRequiredConstructorParameters = true,
        };
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
