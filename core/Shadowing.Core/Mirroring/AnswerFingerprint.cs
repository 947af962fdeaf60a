using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Shadowing.Core.Mirroring;

/// <summary>
/// Production's answer as a pub/sub envelope carries it: the JSON document's shape (objects, arrays, property names,
/// <c>true</c>, <c>false</c>, <c>null</c>) with every string and number replaced by a salted hash of its value, so
/// the replayer can still tell at which paths a shadow's answer differs (it fingerprints that answer with the same salt
/// and compares the two with <see cref="JsonDiff"/>) while the broker never holds production's tokens, personal data or
/// figures as values (property names are kept, so the paths can be read: an answer keyed by e-mail address keeps its keys). Values hash as <see cref="JsonDiff"/> compares them: numbers by decimal value (<c>1.0</c> is <c>1</c>),
/// strings unescaped. A number and a string of the same text differ, as they do unhashed. A body that is not JSON
/// is a single string: the hash of its bytes.
/// </summary>
/// <remarks>
/// A value with few possibilities (a PIN, a small count, a status word) can be found by hashing each candidate with
/// the envelope's salt, which it carries: the salt stops one table serving every envelope, not that. Hashes are 48 bits:
/// two different values hash alike about once in 2^48 comparisons, which would make a differing field look the same.
/// </remarks>
public static class AnswerFingerprint
{
    private const int HashBytes = 6; // 8 characters of base64url

    /// <summary>The fingerprint of <paramref name="body"/> (decoded) with <paramref name="salt"/>, a JSON document.</summary>
    public static byte[] Of(ReadOnlySpan<byte> body, string salt)
    {
        ArgumentNullException.ThrowIfNull(salt);
        using var hash = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(salt));
        var output = new ArrayBufferWriter<byte>(Math.Max(16, body.Length));
        try
        {
            if (TryShape(body, hash, output))
            {
                return output.WrittenSpan.ToArray();
            }
        }
        catch (JsonException)
        {
            // not JSON: hashed whole below
        }
        catch (InvalidOperationException)
        {
            // a property name with an escaped lone surrogate has no string: JsonDiff compares such a body as not JSON too
        }

        output.Clear();
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStringValue(Hash(hash, (byte)'b', body));
        }

        return output.WrittenSpan.ToArray();
    }

    private static bool TryShape(ReadOnlySpan<byte> body, IncrementalHash hash, ArrayBufferWriter<byte> output)
    {
        var reader = new Utf8JsonReader(body); // JsonDocument.Parse's defaults: no comments or trailing commas, depth 64
        using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        var tokens = 0;
        while (reader.Read())
        {
            tokens++;
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    writer.WriteStartObject();
                    break;
                case JsonTokenType.EndObject:
                    writer.WriteEndObject();
                    break;
                case JsonTokenType.StartArray:
                    writer.WriteStartArray();
                    break;
                case JsonTokenType.EndArray:
                    writer.WriteEndArray();
                    break;
                case JsonTokenType.PropertyName:
                    writer.WritePropertyName(reader.GetString()!);
                    break;
                case JsonTokenType.String:
                    writer.WriteStringValue(StringHash(ref reader, hash));
                    break;
                case JsonTokenType.Number:
                    writer.WriteStringValue(reader.TryGetDecimal(out var number)
                        ? Hash(hash, (byte)'n', Encoding.ASCII.GetBytes(Canonical(number)))
                        : Hash(hash, (byte)'r', reader.ValueSpan)); // beyond decimal's range the text alone decides, as in JsonDiff
                    break;
                case JsonTokenType.True:
                    writer.WriteBooleanValue(true);
                    break;
                case JsonTokenType.False:
                    writer.WriteBooleanValue(false);
                    break;
                case JsonTokenType.Null:
                    writer.WriteNullValue();
                    break;
                default:
                    break;
            }
        }

        writer.Flush();
        return tokens > 0;
    }

    private static string StringHash(ref Utf8JsonReader reader, IncrementalHash hash)
    {
        string value;
        try
        {
            value = reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // an escaped lone surrogate: no string to compare, so its text decides, as in JsonDiff
            return Hash(hash, (byte)'x', reader.ValueSpan);
        }

        return Hash(hash, (byte)'s', Encoding.UTF8.GetBytes(value));
    }

    /// <summary>A decimal's text without trailing zeros or a negative zero, so equal values hash alike.</summary>
    internal static string Canonical(decimal value) =>
        value == 0m ? "0" : value.ToString("G29", CultureInfo.InvariantCulture);

    private static string Hash(IncrementalHash hash, byte tag, ReadOnlySpan<byte> value)
    {
        hash.AppendData([tag]);
        hash.AppendData(value);
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return Convert.ToBase64String(digest[..HashBytes]).Replace('+', '-').Replace('/', '_');
    }
}
