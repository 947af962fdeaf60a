using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>
/// What a sample of production records looks like, learned per field (nested objects and arrays included) and then used
/// to generate synthetic records: how often each field is present and of which JSON type; numbers from the sample's
/// empirical distribution (integers stay integers); strings of low cardinality (at most 50 distinct values, at most a
/// fifth of the observations) from their observed frequencies; ISO timestamps within the observed range; other strings
/// and the record keys with the sample's shapes (digits replaced where there are three or more, else letters and digits; punctuation kept). Personal data (found by
/// <see cref="PiiDetector"/>, or named in the mask fields) is never sampled: it is replaced by <see cref="PiiValues"/> and
/// never equal to a value of the sample.
/// </summary>
public sealed class DataProfile
{
    private const int MaxCategories = 50;
    private const int MaxKept = 2000;
    private readonly ValueModel _root;
    private readonly List<string> _keys;

    private readonly IReadOnlySet<string> _keyFormats;

    private DataProfile(ValueModel root, List<string> keys, bool quotedStrings) =>
        (_root, _keys, _quotedStrings, _keyFormats) = (root, keys, quotedStrings, Shapes.SharedFormats(keys));

    // Records that are JSON strings ("pending", as the Dapr SDK stores a string) are generated quoted; plain text stays plain.
    private readonly bool _quotedStrings;

    /// <summary>Records learned from.</summary>
    public int Records => _root.Count;

    /// <summary>Learns from <paramref name="sample"/> (keys relative to the data prefix, JSON values); <paramref name="maskFields"/> are always treated as personal data.</summary>
    public static DataProfile Learn(IEnumerable<(string Key, ReadOnlyMemory<byte> Value)> sample, IReadOnlyCollection<string> maskFields)
    {
        ArgumentNullException.ThrowIfNull(sample);
        var forced = new HashSet<string>(maskFields ?? [], StringComparer.OrdinalIgnoreCase);
        var root = new ValueModel(field: null, forced);
        var keys = new List<string>();
        var (quoted, plain) = (0, 0);
        foreach (var (key, value) in sample)
        {
            JsonNode? node;
            var text = false;
            var span = value.Span.StartsWith("\uFEFF"u8) ? value.Span[3..] : value.Span; // a byte-order mark
            try
            {
                // Read as the masker reads it (comments, trailing commas): a record read as one string instead keeps its
                // letters in the values generated from it. Every object read now, before anything is counted.
                node = JsonNode.Parse(span, documentOptions: DataMasker.Lenient);
                ReadAll(node);
            }
            catch (JsonException)
            {
                var raw = Encoding.UTF8.GetString(span);
                if (raw.TrimStart() is ['{' or '[', ..])
                {
                    // Meant as JSON but unreadable (cut short): learned as one string, its names and words would be kept in
                    // the values generated (masking keeps nothing of such a record either).
                    continue;
                }

                node = JsonValue.Create(raw); // not JSON: a string value
                text = true;
            }
            catch (ArgumentException)
            {
                continue; // a name twice in one object: its fields cannot be told apart, so it is not learned from
            }

            keys.Add(key); // only a record learned from: one left out gives no key shape either
            root.Observe(node);
            if (node is JsonValue leaf && leaf.GetValueKind() == JsonValueKind.String)
            {
                _ = text ? plain++ : quoted++;
            }
        }

        root.Finish();
        return new DataProfile(root, keys, quoted > plain);

        // A JsonObject reads its fields when first enumerated: a name twice raises then.
        static void ReadAll(JsonNode? node)
        {
            foreach (var child in node switch { JsonObject o => o.Select(p => p.Value), JsonArray a => a, _ => [] })
            {
                ReadAll(child);
            }
        }
    }

    /// <summary>Generates <paramref name="count"/> records with distinct keys shaped like the sample's.</summary>
    public IEnumerable<(string Key, byte[] Value)> Generate(int count, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (_keys.Count == 0)
        {
            yield break;
        }

        var used = new HashSet<string>(_keys, StringComparer.Ordinal); // never a production key either
        for (var i = 0; i < count; i++)
        {
            var key = Shapes.LikeFormat(_keys[random.Next(_keys.Count)], random, _keyFormats);
            for (var attempt = 0; !used.Add(key); attempt++)
            {
                key = attempt < 10 ? Shapes.LikeFormat(key, random, _keyFormats) : string.Create(CultureInfo.InvariantCulture, $"{key}-{i}");
            }

            var node = _root.Generate(random);
            yield return (key, node is JsonValue v && v.GetValueKind() == JsonValueKind.String && !_root.WasJson && !_quotedStrings ? Encoding.UTF8.GetBytes(v.GetValue<string>()) : Encoding.UTF8.GetBytes(node?.ToJsonString() ?? "null"));
        }
    }

    /// <summary>Everything observed at one position (a field, an array's elements, or the record itself).</summary>
    private sealed class ValueModel(string? field, HashSet<string> forced, bool inherited = false)
    {
        // Below a MaskFields field everything is treated as personal (an address object's zip code, say).
        private bool Forced => inherited || (@field is not null && forced.Contains(@field));

        // What its children inherit: also below a personal container, as masking treats it (a name's `first`, a phone's
        // `number`), which judged on their own would be a category or a number kept from the sample.
        private bool ForcedBelow => Forced || (@field is not null && DataMasker.PersonalContainer(@field));

        // Every number seen, so a personal number generated is checked against all of them, not only the kept sample.
        private readonly HashSet<double> _seenNumbers = [];

        private readonly List<double> _numbers = [];
        private readonly List<string> _strings = [];
        private IReadOnlySet<string> _formats = new HashSet<string>();
        private readonly Dictionary<string, int> _distinct = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (int Seen, ValueModel Model)> _fields = new(StringComparer.Ordinal);
        private readonly List<int> _lengths = [];
        private int _nulls, _trues, _falses, _objects, _arrays, _numberCount, _stringCount, _dates, _piiVotes;
        private bool _allIntegers = true;
        private ValueModel? _elements;
        private PiiKind _pii;
        private PiiKind _votedKind;
        private bool _categorical;
        private (long Min, long Max, string Format)? _dateRange;
        private readonly List<long> _dateTicks = [];

        public int Count { get; private set; }

        public bool WasJson { get; private set; }

        public void Observe(JsonNode? node)
        {
            Count++;
            switch (node)
            {
                case null:
                    _nulls++;
                    break;
                case JsonObject obj:
                    WasJson = true;
                    _objects++;
                    foreach (var (name, child) in obj)
                    {
                        var entry = _fields.TryGetValue(name, out var existing) ? existing : (Seen: 0, Model: new ValueModel(name, forced, ForcedBelow));
                        entry.Model.Observe(child);
                        _fields[name] = (entry.Seen + 1, entry.Model);
                    }

                    break;
                case JsonArray array:
                    WasJson = true;
                    _arrays++;
                    _lengths.Add(array.Count);
                    _elements ??= new ValueModel(field, forced, inherited || (field is not null && DataMasker.PersonalContainer(field)));
                    foreach (var item in array)
                    {
                        _elements.Observe(item);
                    }

                    break;
                case JsonValue value:
                    ObserveLeaf(value);
                    break;
            }
        }

        public void Finish()
        {
            _pii = Forced ? (_votedKind != PiiKind.None ? _votedKind : PiiKind.Name)
                : field is not null && PiiDetector.ByName(field) is var named and not PiiKind.None ? named
                : _piiVotes * 2 > _stringCount && _stringCount > 0 ? _votedKind
                : PiiKind.None;
            _categorical = _pii == PiiKind.None && _distinct.Count <= MaxCategories && _distinct.Count * 5 <= _stringCount;
            if (_dates == _stringCount && _stringCount > 0 && _pii == PiiKind.None && !_categorical)
            {
                _dateRange = (_dateTicks.Min(), _dateTicks.Max(), _strings[0].Contains('.', StringComparison.Ordinal) ? "O" : "yyyy-MM-dd'T'HH:mm:ss'Z'");
            }

            _formats = Shapes.SharedFormats(_strings);
            _numbers.Sort();
            foreach (var (_, (_, model)) in _fields)
            {
                model.Finish();
            }

            _elements?.Finish();
        }

        public JsonNode? Generate(IRandomSource random)
        {
            // The JSON type in the proportions observed.
            var pick = random.Next(Math.Max(1, Count));
            if ((pick -= _nulls) < 0)
            {
                return null;
            }

            if ((pick -= _trues + _falses) < 0)
            {
                return JsonValue.Create(random.Next(_trues + _falses) < _trues);
            }

            if ((pick -= _numberCount) < 0)
            {
                return _pii == PiiKind.None ? GenerateNumber(random) : PersonalNumber(random);
            }

            if ((pick -= _stringCount) < 0)
            {
                return JsonValue.Create(GenerateString(random));
            }

            if ((pick -= _objects) < 0)
            {
                var obj = new JsonObject();
                foreach (var (name, (seen, model)) in _fields)
                {
                    if (random.Next(_objects) < seen)
                    {
                        obj[name] = model.Generate(random);
                    }
                }

                return obj;
            }

            var array = new JsonArray();
            var length = _lengths.Count > 0 ? _lengths[random.Next(_lengths.Count)] : 0;
            for (var i = 0; i < length && _elements is not null; i++)
            {
                array.Add(_elements.Generate(random));
            }

            return array;
        }

        private void ObserveLeaf(JsonValue value)
        {
            switch (value.GetValueKind())
            {
                case JsonValueKind.True:
                    _trues++;
                    break;
                case JsonValueKind.False:
                    _falses++;
                    break;
                case JsonValueKind.Number:
                    _numberCount++;
                    var number = value.GetValue<double>();
                    _allIntegers &= Math.Abs(number - Math.Round(number)) < 1e-9 && !value.ToJsonString().Contains('.', StringComparison.Ordinal);
                    Keep(_numbers, number, (ulong)BitConverter.DoubleToInt64Bits(number));
                    _seenNumbers.Add(number);
                    break;
                case JsonValueKind.String:
                    _stringCount++;
                    var text = value.GetValue<string>();
                    if (_distinct.Count <= MaxCategories * 4)
                    {
                        _distinct[text] = _distinct.GetValueOrDefault(text) + 1;
                    }

                    if (PiiDetector.ByValue(text) is var kind and not PiiKind.None)
                    {
                        _piiVotes++;
                        _votedKind = kind;
                    }

                    if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date) && text.Length >= 19 && text[4] == '-')
                    {
                        _dates++;
                        Keep(_dateTicks, date.UtcTicks, (ulong)date.UtcTicks);
                    }

                    Keep(_strings, text, DataHash.Of(Encoding.UTF8.GetBytes(text)));
                    _originals?.Add(text);
                    break;
                default:
                    _nulls++;
                    break;
            }
        }

        // Every string seen, so a PII replacement can be checked against all of them (not only the kept sample).
        private readonly HashSet<string>? _originals = new(StringComparer.Ordinal);

        // A spread-out subset of a larger sample; the slot comes from a hash of the value that is the same in every process
        // (HashCode is randomized per process), so a profile learned twice from one sample generates the same records.
        private static void Keep<T>(List<T> kept, T item, ulong hash)
        {
            if (kept.Count < MaxKept)
            {
                kept.Add(item);
            }
            else
            {
                kept[(int)(((hash * 0x9E3779B97F4A7C15UL) >> 32) % MaxKept)] = item;
            }
        }

        /// <summary>
        /// A number where personal data was (a phone or card number stored as a number): as many digits as a sampled one,
        /// every digit random, never a value of the sample; the sample's values are never drawn from.
        /// </summary>
        private JsonNode PersonalNumber(IRandomSource random)
        {
            var template = string.Create(CultureInfo.InvariantCulture, $"{Math.Abs(Math.Round(_numbers[random.Next(_numbers.Count)])):0}");
            for (var attempt = 0; ; attempt++)
            {
                var digits = Shapes.Randomize(template, random);
                digits = digits.Length > 1 && digits[0] == '0' ? "1" + digits[1..] : digits; // a JSON number has no leading zero
                var value = double.Parse(digits, CultureInfo.InvariantCulture);
                if (!_seenNumbers.Contains(value) || attempt > 100)
                {
                    return JsonNode.Parse(digits)!;
                }
            }
        }

        private JsonNode GenerateNumber(IRandomSource random)
        {
            // Inverse of the empirical distribution, linear between neighbouring order statistics.
            var position = random.NextDouble() * (_numbers.Count - 1);
            var low = (int)Math.Floor(position);
            var high = Math.Min(low + 1, _numbers.Count - 1);
            var value = _numbers[low] + ((_numbers[high] - _numbers[low]) * (position - low));
            return _allIntegers ? JsonValue.Create((long)Math.Round(value)) : JsonValue.Create(Math.Round(value, 2));
        }

        private string GenerateString(IRandomSource random)
        {
            if (_pii != PiiKind.None)
            {
                return Personal(_pii, _strings[random.Next(_strings.Count)], random);
            }

            if (_categorical)
            {
                var pick = random.Next(_stringCount);
                foreach (var (text, seen) in _distinct)
                {
                    if ((pick -= seen) < 0)
                    {
                        return NotPersonal(text, random);
                    }
                }
            }

            if (_dateRange is { } range)
            {
                var ticks = range.Min + (long)(random.NextDouble() * (range.Max - range.Min));
                return new DateTimeOffset(ticks, TimeSpan.Zero).ToString(range.Format, CultureInfo.InvariantCulture);
            }

            return NotPersonal(_strings[random.Next(_strings.Count)], random, (text, r) => Shapes.LikeFormat(text, r, _formats));
        }

        /// <summary>
        /// A sampled value, or one shaped like it, unless it is personal data by value: a field where only some values are
        /// (a contact that is an e-mail address four times in ten) is not a personal field, but those values still are,
        /// and a format-like copy would keep an e-mail's letters.
        /// </summary>
        private string NotPersonal(string sampled, IRandomSource random, Func<string, IRandomSource, string>? shape = null) =>
            PiiDetector.ByValue(sampled) is var kind and not PiiKind.None ? Personal(kind, sampled, random)
            : shape is null ? sampled : shape(sampled, random);

        /// <summary>A value of <paramref name="kind"/> that belongs to no one, shaped like <paramref name="template"/>, never a value of the sample.</summary>
        private string Personal(PiiKind kind, string template, IRandomSource random)
        {
            for (var attempt = 0; ; attempt++)
            {
                var replacement = PiiValues.Create(kind, template, random);
                if (!_originals!.Contains(replacement))
                {
                    return replacement;
                }

                if (attempt > 50)
                {
                    return Shapes.Randomize(replacement, random); // every fixed replacement was a real value: scramble one
                }
            }
        }
    }
}
