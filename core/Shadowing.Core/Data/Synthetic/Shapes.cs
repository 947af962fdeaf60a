using System.Text;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>Strings of the same shape: every digit replaced by a random digit, every letter by a random letter of the same case; the rest kept.</summary>
internal static class Shapes
{
    /// <summary>
    /// Like <see cref="Randomize"/>, but a code-like template (one token, three digits or more, no <c>@</c>) keeps its
    /// letters: key formats and codes (<c>order-0001234</c>, <c>ref-01234</c>) keep their literal prefix. Text with spaces
    /// ("Deliver to Jane Doe, 221 Baker St") or an e-mail address with digits keeps none of its words.
    /// </summary>
    public static string LikeFormat(string template, IRandomSource random)
    {
        if (template.Count(char.IsAsciiDigit) < 3 || template.Any(char.IsWhiteSpace) || template.Contains('@', StringComparison.Ordinal))
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
