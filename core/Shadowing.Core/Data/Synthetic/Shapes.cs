using System.Text;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>Strings of the same shape: every digit replaced by a random digit, every letter by a random letter of the same case; the rest kept.</summary>
internal static class Shapes
{
    /// <summary>
    /// How many distinct sampled values must share a format (<see cref="Format"/>) for its letters to be kept, at least
    /// (and at least <see cref="SharedShare"/> of them): a key format or a code's prefix is shared by many values, one
    /// person's user name (<c>jane.doe1987</c>) by one, and one person's own keys (<c>orders/jane.doe/00017</c> …) by few.
    /// </summary>
    public const int SharedBy = 5;

    /// <summary>The share of the distinct sampled values a format must have for its letters to be kept.</summary>
    public const double SharedShare = 0.01;

    /// <summary>The template with each run of digits as one <c>#</c>: <c>order-0001234</c> and <c>order-17</c> are <c>order-#</c>.</summary>
    public static string Format(string template)
    {
        var result = new StringBuilder(template.Length);
        for (var i = 0; i < template.Length; i++)
        {
            if (!char.IsAsciiDigit(template[i]))
            {
                result.Append(template[i]);
            }
            else if (i == 0 || !char.IsAsciiDigit(template[i - 1]))
            {
                result.Append('#');
            }
        }

        return result.ToString();
    }

    /// <summary>The formats that enough distinct values of <paramref name="samples"/> share (<see cref="SharedBy"/>, <see cref="SharedShare"/>).</summary>
    public static IReadOnlySet<string> SharedFormats(IEnumerable<string> samples)
    {
        var distinct = samples.Distinct(StringComparer.Ordinal).ToList();
        var least = Math.Max(SharedBy, (int)Math.Ceiling(SharedShare * distinct.Count));
        return distinct.GroupBy(Format, StringComparer.Ordinal).Where(g => g.Count() >= least).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// Like <see cref="Randomize"/>, but a code-like template (one token, three digits or more, no <c>@</c>) whose format
    /// many sampled values share (<paramref name="shared"/>) keeps its letters: key formats and codes
    /// (<c>order-0001234</c>, <c>ref-01234</c>) keep their literal prefix. Text with spaces ("Deliver to Jane Doe, 221
    /// Baker St"), an e-mail address with digits, and a token of its own (<c>jane.doe1987</c>, <c>user-jsmith-0042</c>)
    /// keep none of their words.
    /// </summary>
    public static string LikeFormat(string template, IRandomSource random, IReadOnlySet<string> shared)
    {
        if (template.Count(char.IsAsciiDigit) < 3 || template.Any(char.IsWhiteSpace) || template.Contains('@', StringComparison.Ordinal) || !shared.Contains(Format(template)))
        {
            return Randomize(template, random);
        }

        var result = new StringBuilder(template.Length);
        foreach (var c in template)
        {
            result.Append(char.IsAsciiDigit(c) ? (char)('0' + random.Next(10)) : c);
        }

        return result.ToString();
    }

    /// <summary>
    /// Letters of any script, not only ASCII ones, are replaced (by ASCII letters of the same case; a letter without case
    /// becomes lower case): "Königstraße" or a Cyrillic or Japanese address keeps none of its letters. So are numbers of
    /// any script (superscripts and Roman numerals too, as digits), and combining marks (a Devanagari vowel sign, an
    /// accent written apart from its letter) are left out: they belong to the letter replaced.
    /// </summary>
    public static string Randomize(string template, IRandomSource random)
    {
        var result = new StringBuilder(template.Length);
        foreach (var rune in template.EnumerateRunes())
        {
            if (Rune.IsNumber(rune))
            {
                result.Append((char)('0' + random.Next(10)));
            }
            else if (Rune.IsLetter(rune))
            {
                result.Append((char)((Rune.IsUpper(rune) ? 'A' : 'a') + random.Next(26)));
            }
            else if (Rune.GetUnicodeCategory(rune) is not (System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark or System.Globalization.UnicodeCategory.EnclosingMark))
            {
                result.Append(rune.ToString());
            }
        }

        return result.ToString();
    }
}
