using System.Text;
using Shadowing.Core.Randomness;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>Strings of the same shape: every digit replaced by a random digit, every letter by a random letter of the same case; the rest kept.</summary>
internal static class Shapes
{
    /// <summary>
    /// Like <see cref="Randomize"/>, but a template with three digits or more keeps its letters: key formats and codes
    /// (<c>order-0001234</c>, <c>ref-01234</c>) keep their literal prefix.
    /// </summary>
    public static string LikeFormat(string template, IRandomSource random)
    {
        if (template.Count(char.IsAsciiDigit) < 3)
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

    public static string Randomize(string template, IRandomSource random)
    {
        var result = new StringBuilder(template.Length);
        foreach (var c in template)
        {
            result.Append(c switch
            {
                _ when char.IsAsciiDigit(c) => (char)('0' + random.Next(10)),
                _ when char.IsAsciiLetterUpper(c) => (char)('A' + random.Next(26)),
                _ when char.IsAsciiLetterLower(c) => (char)('a' + random.Next(26)),
                _ => c,
            });
        }

        return result.ToString();
    }
}
