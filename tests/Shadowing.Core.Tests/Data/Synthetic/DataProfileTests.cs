using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Shadowing.Core.Data.Synthetic;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Tests.Data.Synthetic;

/// <summary>
/// Synthetic records against a sample of 2,000 customer records. Stated tolerances: numbers within a Kolmogorov–Smirnov
/// distance of 0.06 of the sample, categories within a total-variation distance of 0.05, shares (booleans, optional fields)
/// within 0.04, mean array length within 10 %.
/// </summary>
public sealed class DataProfileTests
{
    private static readonly string[] First = ["John", "Mary", "Taylor", "Wei", "Fatima", "Olga", "Kwame", "Lucia"]; // "Taylor" is also a replacement name
    private static readonly string[] Last = ["Smith", "Garcia", "Chen", "Okafor", "Novak", "Rossi"];
    private static readonly string[] Plans = ["free", "free", "free", "free", "free", "free", "pro", "pro", "pro", "team"];
    private static readonly string[] Cities = ["Lisbon", "Osaka", "Lagos", "Denver", "Tallinn"];
    private readonly List<(string Key, ReadOnlyMemory<byte> Value)> _sample = [];
    private readonly HashSet<string> _pii = new(StringComparer.Ordinal);

    public DataProfileTests()
    {
        var random = RandomSource.Seeded(11);
        for (var i = 0; i < 2000; i++)
        {
            var name = $"{First[random.Next(First.Length)]} {Last[random.Next(Last.Length)]}";
            var email = $"{name.Replace(' ', '.').ToLowerInvariant()}{i}@mail.example.org";
            var phone = string.Create(CultureInfo.InvariantCulture, $"+351 21 {random.Next(1000):D3} {random.Next(10000):D4}");
            var card = Card(random);
            var record = new JsonObject
            {
                ["id"] = $"cust-{i:D6}",
                ["name"] = name,
                ["email"] = email,
                ["phone"] = phone,
                ["card"] = card,
                ["plan"] = Plans[random.Next(Plans.Length)],
                ["spend"] = Math.Round(Math.Exp(3 + (random.NextDouble() * 2)), 2),
                ["visits"] = random.Next(40),
                ["active"] = random.Next(10) < 7,
                ["signedUp"] = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(500_000)).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                ["address"] = new JsonObject { ["city"] = Cities[random.Next(Cities.Length)] },
                ["tags"] = new JsonArray([.. Enumerable.Range(0, random.Next(4)).Select(_ => (JsonNode)JsonValue.Create(Plans[random.Next(Plans.Length)])!)]),
            };
            if (random.Next(4) == 0)
            {
                record["referrer"] = $"ref-{random.Next(100_000):D5}";
            }

            _pii.UnionWith([name, email, phone, card]);
            _sample.Add(($"cust-{i:D6}", Encoding.UTF8.GetBytes(record.ToJsonString())));
        }
    }

    [Fact]
    public void Generate_NoOriginalPersonalDataAppears_AndKeysAreNewButShapedLikeTheSample()
    {
        var generated = Generate(seed: 3);

        var strings = generated.SelectMany(g => Leaves(g.Node)).ToHashSet(StringComparer.Ordinal);
        Assert.Empty(strings.Intersect(_pii));
        Assert.All(generated.Select(g => (string)g.Node["email"]!), e => Assert.EndsWith("@example.com", e, StringComparison.Ordinal));
        Assert.All(generated.Select(g => (string)g.Node["card"]!), c => Assert.True(PiiDetector.Luhn(c)));
        Assert.Equal(generated.Count, generated.Select(g => g.Key).Distinct().Count());
        Assert.All(generated, g => Assert.Matches("^cust-[0-9]{6}", g.Key));
        Assert.Empty(generated.Select(g => g.Key).Intersect(_sample.Select(s => s.Key)));
    }

    [Fact]
    public void Generate_FieldDistributionsWithinTheStatedTolerances()
    {
        var sample = _sample.Select(s => JsonNode.Parse(s.Value.Span)!).ToList();
        var generated = Generate(seed: 3).Select(g => g.Node).ToList();

        Assert.InRange(KolmogorovSmirnov(sample.Select(n => (double)n["spend"]!), generated.Select(n => (double)n["spend"]!)), 0, 0.06);
        Assert.InRange(KolmogorovSmirnov(sample.Select(n => (double)n["visits"]!), generated.Select(n => (double)n["visits"]!)), 0, 0.06);
        Assert.All(generated, n => Assert.Equal(Math.Round((double)n["visits"]!), (double)n["visits"]!)); // integers stay integers
        Assert.InRange(TotalVariation(sample.Select(n => (string)n["plan"]!), generated.Select(n => (string)n["plan"]!)), 0, 0.05);
        Assert.InRange(TotalVariation(sample.Select(n => (string)n["address"]!["city"]!), generated.Select(n => (string)n["address"]!["city"]!)), 0, 0.05);
        Assert.InRange(Math.Abs(Share(sample, n => (bool)n["active"]!) - Share(generated, n => (bool)n["active"]!)), 0, 0.04);
        Assert.InRange(Math.Abs(Share(sample, n => n["referrer"] is not null) - Share(generated, n => n["referrer"] is not null)), 0, 0.04);
        var tags = sample.Average(n => n["tags"]!.AsArray().Count);
        Assert.InRange(generated.Average(n => n["tags"]!.AsArray().Count), tags * 0.9, tags * 1.1);
        var dates = sample.Select(n => DateTimeOffset.Parse((string)n["signedUp"]!, CultureInfo.InvariantCulture)).ToList();
        Assert.All(generated.Select(n => DateTimeOffset.Parse((string)n["signedUp"]!, CultureInfo.InvariantCulture)), d => Assert.InRange(d, dates.Min(), dates.Max()));
    }

    [Fact]
    public void Generate_PhoneNumbersStoredAsNumbers_AreNeverSampledValues_AndKeepTheirLength()
    {
        long[] customers = [2125550147, 3105550188, 4155550123, 6175550199, 7185550111]; // a few customers with many records each
        var phones = Enumerable.Range(0, 300).Select(i => customers[i % customers.Length]).ToList();
        var sample = phones.Select((p, i) => ($"c{i:D4}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"{{\"phone\":{p}}}"))).ToList();

        var generated = DataProfile.Learn(sample, []).Generate(300, RandomSource.Seeded(1)).Select(g => (long)JsonNode.Parse(g.Value)!["phone"]!).ToList();

        Assert.Empty(generated.Intersect(phones));
        Assert.All(generated, p => Assert.InRange(p, 1_000_000_000L, 9_999_999_999L));
    }

    [Fact]
    public void Generate_PersonalValuesInAFieldThatIsNotPersonal_AreNeverShapedFromTheSample()
    {
        // "contact": an e-mail address four times in ten, else a ticket code; the field is not personal by its values' vote.
        var sample = Enumerable.Range(0, 200).Select(i => ($"t{i:D4}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(
            i % 5 < 2 ? $"{{\"contact\":\"jane.doe{1900 + i}@gmail.com\"}}" : $"{{\"contact\":\"TCK-{i:D5}\"}}"))).ToList();

        var contacts = DataProfile.Learn(sample, []).Generate(200, RandomSource.Seeded(1)).Select(g => (string)JsonNode.Parse(g.Value)!["contact"]!).ToList();

        Assert.DoesNotContain(contacts, c => c.Contains("jane.doe", StringComparison.Ordinal) || c.Contains("gmail", StringComparison.Ordinal));
        Assert.Contains(contacts, c => c.EndsWith("@example.com", StringComparison.Ordinal));
        Assert.Contains(contacts, c => c.StartsWith("TCK-", StringComparison.Ordinal)); // the codes keep their format
    }

    [Fact]
    public void Learn_JsonAsTheMaskerReadsIt_TrailingCommasAndComments_AndARecordWithANameTwiceIsLeftOut()
    {
        // Read strictly, these records were one string each, and the values generated from them kept their letters.
        var sample = Enumerable.Range(0, 100).Select(i => ($"r{i:D3}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(
            i == 7 ? "{\"id\":1,\"id\":2}" : $"{{\"customerName\":\"Jocasta{i}\", /* kept */ \"id\":{1000 + i},}}"))).ToList();

        var profile = DataProfile.Learn(sample, []);
        var generated = profile.Generate(100, RandomSource.Seeded(1)).Select(g => Encoding.UTF8.GetString(g.Value)).ToList();

        Assert.Equal(99, profile.Records); // the record naming "id" twice is left out
        Assert.All(generated, g => Assert.IsType<JsonObject>(JsonNode.Parse(g)));
        Assert.DoesNotContain(generated, g => g.Contains("Jocasta", StringComparison.Ordinal));
    }

    [Fact]
    public void Generate_BelowAPersonalContainer_NoValueOfTheSampleIsKept()
    {
        // 1,000 orders of 40 customers: `first` and `number` are not personal by their own names, but they are a person's name
        // and phone. Judged on their own, 40 first names are a category kept as they were, and a phone number a number drawn
        // near the sample's.
        string[] firsts = [.. Enumerable.Range(0, 40).Select(i => $"Customer{(char)('A' + (i % 26))}{(char)('a' + (i / 26))}x")];
        var sample = Enumerable.Range(0, 1000).Select(i => ($"o{i:D4}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(
            $"{{\"customer\":{{\"name\":{{\"first\":\"{firsts[i % 40]}\"}}}},\"phones\":[{{\"number\":{4155550100 + (i % 40)}}}],\"total\":{i % 90}}}"))).ToList();

        var generated = DataProfile.Learn(sample, []).Generate(500, RandomSource.Seeded(1)).Select(g => JsonNode.Parse(g.Value)!).ToList();

        Assert.DoesNotContain(generated, g => firsts.Contains((string)g["customer"]!["name"]!["first"]!));
        Assert.DoesNotContain(generated, g => g["phones"]!.AsArray().Any(p => (double)p!["number"]! is >= 4155550100 and < 4155550140));
    }

    [Theory]
    [InlineData("Deliver to {0} Doherty, {1} Bakerloo St")] // free text with numbers in it
    [InlineData("ship to {0}.doherty@mail.example.org ref {1}")] // an e-mail address inside text
    [InlineData("{0}.doherty{1}@mail.example.org")] // an e-mail address with digits (as a key: keys are shaped, never judged personal)
    public void Generate_TextWithDigits_KeepsNoneOfTheSamplesWords(string format)
    {
        string[] names = ["Jocasta", "Anabela", "Wilhelmina", "Olgarita"]; // long enough that random letters never spell them
        var sample = Enumerable.Range(0, 200).Select(i => string.Format(CultureInfo.InvariantCulture, format, names[i % names.Length], 100 + i))
            .Select(text => (text, (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(new JsonObject { ["note"] = text }.ToJsonString()))).ToList();

        var generated = DataProfile.Learn(sample, []).Generate(200, RandomSource.Seeded(1)).ToList();
        var notes = generated.Select(g => (string)JsonNode.Parse(g.Value)!["note"]!).Concat(generated.Select(g => g.Key)).ToList();

        foreach (var word in names.Append("Doherty").Append("doherty").Append("Bakerloo").Append("Deliver").Append("mail.example.org"))
        {
            Assert.DoesNotContain(notes, n => n.Contains(word, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Generate_AUserNameWithDigits_KeepsNoneOfItsLetters_AKeyFormatManyShareKeepsItsPrefix()
    {
        // Each user name is one person's (jane.doe1987): a token with digits kept its letters, so real names came out in
        // "synthetic" records. A format shared by many values (acct-####) is a key format, and keeps its prefix.
        var letters = RandomSource.Seeded(7);
        var names = Enumerable.Range(0, 200).Select(_ => new string([.. Enumerable.Range(0, 9).Select(_ => (char)('a' + letters.Next(26)))])).ToList();
        var sample = names.Select((name, i) => ($"{name}.{1950 + (i % 50)}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(new JsonObject { ["username"] = $"{name}{1950 + (i % 50)}", ["account"] = $"acct-{i:D5}" }.ToJsonString()))).ToList();

        var generated = DataProfile.Learn(sample, []).Generate(200, RandomSource.Seeded(1)).ToList();
        var records = generated.Select(g => JsonNode.Parse(g.Value)!).ToList();

        var texts = records.Select(r => (string)r["username"]!).Concat(generated.Select(g => g.Key)).ToList();
        Assert.DoesNotContain(names, name => texts.Any(t => t.Contains(name, StringComparison.Ordinal)));
        Assert.All(records, r => Assert.Matches("^acct-[0-9]{5}$", (string)r["account"]!));
    }

    [Fact]
    public void Generate_RecordsThatAreJsonStrings_StayJsonStrings_PlainTextStaysPlain()
    {
        string[] states = ["pending", "shipped", "delivered"];
        var quoted = Enumerable.Range(0, 60).Select(i => ($"s{i:D2}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"\"{states[i % 3]}\""))).ToList();
        var plain = Enumerable.Range(0, 60).Select(i => ($"p{i:D2}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(states[i % 3]))).ToList();

        var fromQuoted = DataProfile.Learn(quoted, []).Generate(30, RandomSource.Seeded(1)).Select(g => Encoding.UTF8.GetString(g.Value)).ToList();
        var fromPlain = DataProfile.Learn(plain, []).Generate(30, RandomSource.Seeded(1)).Select(g => Encoding.UTF8.GetString(g.Value)).ToList();

        Assert.All(fromQuoted, g => Assert.Equal(System.Text.Json.JsonValueKind.String, JsonNode.Parse(g)!.GetValueKind())); // a shadow deserializes its string
        Assert.All(fromPlain, g => Assert.DoesNotContain("\"", g, StringComparison.Ordinal));
    }

    [Fact]
    public void Learn_ARecordCutShort_IsLeftOut_SoNoneOfItsWordsAreGenerated()
    {
        var sample = Enumerable.Range(0, 50).Select(i => ($"c{i:D2}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(
            i == 3 ? "{\"firstName\":\"Jocasta\",\"lastName\":\"Wilhelmina\",\"zip\":\"12345\"" : $"{{\"total\":{i}}}"))).ToList();

        var profile = DataProfile.Learn(sample, []);
        var generated = profile.Generate(200, RandomSource.Seeded(1)).Select(g => Encoding.UTF8.GetString(g.Value)).ToList();

        Assert.Equal(49, profile.Records);
        Assert.DoesNotContain(generated, g => g.Contains("Jocasta", StringComparison.Ordinal) || g.Contains("Wilhelmina", StringComparison.Ordinal));
    }

    [Fact]
    public void Generate_SameSampleAndSeed_SameRecords()
    {
        Assert.Equal(Generate(seed: 5).Select(g => g.Node.ToJsonString()), Generate(seed: 5).Select(g => g.Node.ToJsonString()));
        Assert.NotEqual(Generate(seed: 5).Select(g => g.Node.ToJsonString()), Generate(seed: 6).Select(g => g.Node.ToJsonString()));
    }

    private List<(string Key, JsonNode Node)> Generate(int seed) =>
        [.. DataProfile.Learn(_sample, []).Generate(2000, RandomSource.Seeded(seed)).Select(g => (g.Key, JsonNode.Parse(g.Value)!))];

    private static IEnumerable<string> Leaves(JsonNode? node) => node switch
    {
        JsonObject obj => obj.SelectMany(p => Leaves(p.Value)),
        JsonArray array => array.SelectMany(Leaves),
        JsonValue value when value.TryGetValue<string>(out var text) => [text],
        _ => [],
    };

    private static double Share(List<JsonNode> nodes, Func<JsonNode, bool> predicate) => nodes.Count(predicate) / (double)nodes.Count;

    private static double KolmogorovSmirnov(IEnumerable<double> a, IEnumerable<double> b)
    {
        var left = a.Order().ToArray();
        var right = b.Order().ToArray();
        var points = left.Concat(right).Distinct().Order();
        return points.Max(x => Math.Abs((Upper(left, x) / (double)left.Length) - (Upper(right, x) / (double)right.Length)));
    }

    private static int Upper(double[] sorted, double x)
    {
        var index = Array.BinarySearch(sorted, x);
        if (index < 0)
        {
            return ~index;
        }

        while (index < sorted.Length && sorted[index] == x)
        {
            index++;
        }

        return index;
    }

    private static double TotalVariation(IEnumerable<string> a, IEnumerable<string> b)
    {
        var left = a.GroupBy(x => x).ToDictionary(g => g.Key, g => (double)g.Count());
        var right = b.GroupBy(x => x).ToDictionary(g => g.Key, g => (double)g.Count());
        double n = left.Values.Sum(), m = right.Values.Sum();
        return left.Keys.Union(right.Keys).Sum(k => Math.Abs((left.GetValueOrDefault(k) / n) - (right.GetValueOrDefault(k) / m))) / 2;
    }

    private static string Card(IRandomSource random)
    {
        while (true)
        {
            var digits = "5" + string.Concat(Enumerable.Range(0, 15).Select(_ => (char)('0' + random.Next(10))));
            if (PiiDetector.Luhn(digits))
            {
                return digits;
            }
        }
    }
}
