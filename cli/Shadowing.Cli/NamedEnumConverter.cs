using System.ComponentModel;
using System.Globalization;

namespace Shadowing.Cli;

/// <summary>
/// Binds an enum option by its names only. Spectre uses .NET's <see cref="EnumConverter"/>, which also takes a number
/// ("7", bound as no member at all) and a comma list ("mean,sum"): neither is an option a user meant.
/// </summary>
internal sealed class NamedEnumConverter<T>() : EnumConverter(typeof(T))
    where T : struct, Enum
{
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text && Array.Find(Enum.GetNames<T>(), n => n.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name
            ? Enum.Parse<T>(name)
            : throw new FormatException($"'{value}' is not one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");
}
