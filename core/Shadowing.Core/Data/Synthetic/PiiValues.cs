using System.Globalization;
using System.Text;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>
/// Replacement values for personal data: e-mail addresses at the reserved <c>example.com</c> domain, names from a fixed
/// list, phone numbers in the 555-01xx range reserved for fiction, card numbers in the 4000-0000 test range (Luhn-valid).
/// None can belong to a real person; the same source gives the same values (seeded, or derived from the value masked).
/// </summary>
public static class PiiValues
{
    private static readonly string[] FirstNames = ["Alex", "Blake", "Casey", "Dana", "Eli", "Frankie", "Gray", "Harper", "Indy", "Jordan", "Kai", "Logan", "Morgan", "Noor", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor"];
    private static readonly string[] LastNames = ["Ashford", "Brightwater", "Coldbrook", "Dunmore", "Eastvale", "Fairholm", "Glenrock", "Hollins", "Ivywood", "Juniper", "Kestrel", "Larkspur", "Moorcroft", "Northam", "Oakhurst", "Pemberly", "Quarry", "Redfern", "Stonebridge", "Thornbury"];

    /// <summary>A value of <paramref name="kind"/>, shaped like <paramref name="original"/> where that matters (a first name stays one word).</summary>
    public static string Create(PiiKind kind, string original, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(random);
        return kind switch
        {
            // Twelve digits: masking derives one address per customer, and with six 2,236 of 300,000 customers' addresses
            // repeated another's (a unique index in the shadow refuses the second, a lookup finds the wrong customer).
            PiiKind.Email => string.Create(CultureInfo.InvariantCulture, $"{FirstNames[random.Next(FirstNames.Length)].ToLowerInvariant()}.{random.Next(1_000_000):D6}{random.Next(1_000_000):D6}@example.com"),
            PiiKind.Name => original.Contains(' ', StringComparison.Ordinal)
                ? $"{FirstNames[random.Next(FirstNames.Length)]} {LastNames[random.Next(LastNames.Length)]}"
                : (random.Next(2) == 0 ? FirstNames : LastNames)[random.Next(FirstNames.Length)],
            PiiKind.Phone => string.Create(CultureInfo.InvariantCulture, $"+1-{200 + random.Next(800)}-555-01{random.Next(100):D2}"),
            PiiKind.CardNumber => TestCard(random),
            _ => original,
        };
    }

    private static string TestCard(IRandomSource random)
    {
        var digits = new StringBuilder("40000000");
        for (var i = 0; i < 7; i++)
        {
            digits.Append((char)('0' + random.Next(10)));
        }

        for (var check = 0; check < 10; check++)
        {
            var candidate = digits.ToString() + (char)('0' + check);
            if (PiiDetector.Luhn(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("no Luhn check digit found"); // one of the ten always passes
    }
}
