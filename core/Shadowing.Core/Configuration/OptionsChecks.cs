using System.ComponentModel.DataAnnotations;

namespace Shadowing.Core.Configuration;

/// <summary>
/// Data-annotation checks of an options object that name the configuration key of each bad value, for
/// options validators that also check nested sections (which ValidateDataAnnotations does not).
/// </summary>
public static class OptionsChecks
{
    /// <summary>Adds "<c>{section}:{property}: {message}</c>" to <paramref name="failures"/> for every invalid property of <paramref name="value"/>.</summary>
    public static void Check(string section, object? value, ICollection<string> failures)
    {
        ArgumentNullException.ThrowIfNull(failures);
        if (value is null)
        {
            failures.Add($"{section} is missing.");
            return;
        }

        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true))
        {
            foreach (var result in results)
            {
                failures.Add($"{section}:{string.Join(",", result.MemberNames)}: {result.ErrorMessage}");
            }
        }
    }
}
