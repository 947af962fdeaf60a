using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>
/// Masks personal data in JSON values copied into a shadow: every string field the <see cref="PiiDetector"/> flags by name
/// or pattern, every number under a personal field's name (a phone number stored as a number), and everything below a
/// field named in <paramref name="fields"/> or an object or array under a personal name (strings and numbers, nested
/// objects and arrays too), is replaced by a
/// synthetic value. The replacement is
/// derived from the original, <paramref name="seed"/> and <paramref name="key"/>, so the same customer gets the same
/// replacement in every record (joins still work) and a rerun of the sync writes the same bytes; it never equals the
/// original. With a key, the derivation is a keyed hash (HMAC-SHA256): without the key, someone holding a masked copy and a
/// list of real e-mail addresses cannot compute their replacements to find which are customers (with the public code and
/// the default seed alone they could). Values that are not JSON are masked whole when they look like personal data; one
/// that starts like JSON but cannot be read field by field is replaced whole.
/// </summary>
public sealed partial class DataMasker(IReadOnlyCollection<string> fields, int seed, byte[]? key = null)
{
    /// <summary>
    /// Changes whenever what it masks, or how, changes: copies record it, and one masked by another version seeds again.
    /// 2: longer e-mail addresses, letters of every script. 3: objects and arrays under personal names, lenient JSON.
    /// 4: replacements from a keyed hash.
    /// </summary>
    public const int Version = 4;

    private readonly HashSet<string> _fields = new(fields ?? [], StringComparer.OrdinalIgnoreCase);

    // What writers put in JSON beyond the standard (comments, trailing commas, deep nesting) still reads as JSON, so its
    // fields are found by name.
    internal static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 512 };

    /// <summary>The masked value.</summary>
    public ReadOnlyMemory<byte> Mask(ReadOnlyMemory<byte> value)
    {
        var span = value.Span.StartsWith("\uFEFF"u8) ? value.Span[3..] : value.Span; // a byte-order mark
        try
        {
            var root = JsonNode.Parse(span, documentOptions: Lenient);
            return root is null ? value : Encoding.UTF8.GetBytes(Walk(root, field: null, forced: false)!.ToJsonString());
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException)
        {
            // Not JSON, or JSON whose fields cannot be told apart (a name twice in one object: ArgumentException).
            var text = Encoding.UTF8.GetString(span);
            if (text.TrimStart() is ['{' or '[', ..])
            {
                // Meant as JSON, but its personal fields cannot be found: nothing of it is kept (fails closed).
                return Encoding.UTF8.GetBytes(Shapes.Randomize(text, Random(text)));
            }

            var kind = PiiDetector.ByValue(text);
            return kind == PiiKind.None ? value : Encoding.UTF8.GetBytes(Replace(kind, text));
        }
    }

    // forced: below a field named in MaskFields, or an object or array under a personal name ("name": {"first": …},
    // "phones": [{"number": …}]), where every string and number is masked.
    private JsonNode? Walk(JsonNode? node, string? field, bool forced)
    {
        forced |= field is not null && (_fields.Contains(field) || (node is JsonObject or JsonArray && PersonalContainer(field)));
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj.ToList())
                {
                    obj[name] = Walk(child, name, forced);
                }

                return obj;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    array[i] = Walk(array[i]?.DeepClone(), field, forced);
                }

                return array;
            case JsonValue leaf when leaf.GetValueKind() == JsonValueKind.String:
                var text = leaf.GetValue<string>();
                var kind = field is null ? PiiKind.None : PiiDetector.ByName(field);
                kind = kind != PiiKind.None ? kind : PiiDetector.ByValue(text);
                if (kind == PiiKind.None && forced)
                {
                    return JsonValue.Create(Shapes.Randomize(text, Random(text)));
                }

                return kind == PiiKind.None ? leaf.DeepClone() : JsonValue.Create(Replace(kind, text));
            case JsonValue leaf when leaf.GetValueKind() == JsonValueKind.Number && (forced || (field is not null && PiiDetector.ByName(field) != PiiKind.None) || IsCardNumber(field, leaf.ToJsonString())):
                // A phone or card number stored as a number: a replacement's digits, or the same shape with every digit new.
                // A card number is one by its digits whatever its field ("payment": {"number": 4111…}), as in a string.
                var number = leaf.ToJsonString();
                var named = field is null ? PiiKind.None : PiiDetector.ByName(field);
                named = named == PiiKind.None && IsCardNumber(field, number) ? PiiKind.CardNumber : named;
                if (named is PiiKind.Phone or PiiKind.CardNumber)
                {
                    return JsonNode.Parse(string.Concat(Replace(named, number).Where(char.IsAsciiDigit)));
                }

                // Digits only: the sign, the point and an exponent stay, so the result is still a JSON number.
                var random = Random(number);
                for (var attempt = 0; ; attempt++)
                {
                    var chars = number.ToCharArray();
                    var first = true;
                    for (var i = 0; i < chars.Length && chars[i] is not ('e' or 'E'); i++)
                    {
                        if (char.IsAsciiDigit(chars[i]))
                        {
                            chars[i] = (char)((first && i + 1 < chars.Length && char.IsAsciiDigit(chars[i + 1]) ? '1' : '0') + random.Next(first && i + 1 < chars.Length && char.IsAsciiDigit(chars[i + 1]) ? 9 : 10)); // no leading zero
                            first = false;
                        }
                    }

                    var masked = new string(chars);
                    if (masked != number || attempt > 20)
                    {
                        return JsonNode.Parse(masked);
                    }
                }
            default:
                return node?.DeepClone();
        }
    }

    /// <summary>
    /// A JSON number that is a card number's digits: 15 or 16 of them, a card network's first digit (3 to 6), passing the
    /// Luhn check, in a field not named as an id or a time. One number in ten passes Luhn by chance: 13-digit epoch
    /// milliseconds, 18- and 19-digit ids and barcodes must not be turned into test cards (and collide there).
    /// </summary>
    private static bool IsCardNumber(string? field, string number) =>
        number.Length is 15 or 16 && number[0] is >= '3' and <= '6' && number.All(char.IsAsciiDigit) && PiiDetector.Luhn(number)
        && !(field is not null && IdOrTime().IsMatch(field));

    // The whole name, or a last word of it (order_id, createdAt, updatedTS): not any name ending in those letters (accounts,
    // payments, format, paid), whose card numbers would be copied as they are.
    [System.Text.RegularExpressions.GeneratedRegex("(?i:^(id|at|time|ts|timestamp|date)$|[_-](id|at|time|ts|timestamp|date)$)|[a-z0-9](Id|ID|At|Time|Ts|TS|Timestamp|Date)$")]
    private static partial System.Text.RegularExpressions.Regex IdOrTime();

    /// <summary>
    /// Whether an object or array named <paramref name="field"/> holds personal data whole: a name (<c>name</c>,
    /// <c>cardHolder</c>), a card, or a phone or e-mail named as one (<c>phone</c>, <c>homePhones</c>, <c>emails</c>), not
    /// one merely about them (<c>emailPreferences</c>, whose dates and settings are not personal). Everything below it is
    /// personal, whatever its own name (<c>first</c>, <c>number</c>); synthetic data treats it so too.
    /// </summary>
    internal static bool PersonalContainer(string field)
    {
        var kind = PiiDetector.ByName(field);
        if (kind is PiiKind.Name or PiiKind.CardNumber)
        {
            return true;
        }

        // The name without a plural or a trailing "number", "no" or "address": phoneNumbers, emailAddresses, homePhones.
        var normalized = field.Replace("_", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal).ToUpperInvariant();
        var name = ContainerSuffix().Match(normalized).Groups[1].Value;
        // Every phone name PiiDetector knows (msisdn, cellNumbers, contactNumber, homeMobile), so a number stored digits-only
        // in an object under one ({"msisdn": {"value": "447700900123"}}) is masked as its string would be.
        return kind is PiiKind.Email or PiiKind.Phone && (name.EndsWith("MAIL", StringComparison.Ordinal) || name.EndsWith("PHONE", StringComparison.Ordinal)
            || name.EndsWith("MSISDN", StringComparison.Ordinal) || (name.EndsWith("MOBILE", StringComparison.Ordinal) && !name.EndsWith("AUTOMOBILE", StringComparison.Ordinal))
            || name is "TEL" or "TELEPHONE" or "FAX" or "CELL" or "CELLULAR" or "CONTACT");
    }

    [System.Text.RegularExpressions.GeneratedRegex("^(.*?)(NUMBERS?|NUMS?|NOS?|ADDRESS(ES)?|S)?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex ContainerSuffix();

    private string Replace(PiiKind kind, string original)
    {
        var random = Random(original);
        for (var attempt = 0; ; attempt++)
        {
            var replacement = PiiValues.Create(kind, original, random);
            if (replacement != original || attempt > 20)
            {
                return replacement;
            }
        }
    }

    // The replacement's randomness comes from the original's whole 64-bit hash and the seed: with a 32-bit seed
    // (System.Random's) 10 of 300,000 customers' e-mail addresses repeated another's (DataMaskerTests).
    private IRandomSource Random(string original)
    {
        var bytes = Encoding.UTF8.GetBytes(original);
        var hash = key is null ? DataHash.Of(bytes) : System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(System.Security.Cryptography.HMACSHA256.HashData(key, bytes));
        return new HashRandom(hash ^ unchecked((ulong)seed * 0x9E3779B97F4A7C15UL));
    }

    /// <summary>A deterministic stream from a 64-bit state (SplitMix64): the same original and seed, the same replacement.</summary>
    private sealed class HashRandom(ulong state) : IRandomSource
    {
        private ulong _state = state;

        public int Next(int maxExclusive)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(maxExclusive);
            return maxExclusive == 0 ? 0 : (int)(NextUInt64() % (ulong)maxExclusive); // as System.Random: Next(0) is 0
        }

        public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

        private ulong NextUInt64()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
