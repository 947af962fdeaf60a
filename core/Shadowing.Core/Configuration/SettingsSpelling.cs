using System.ComponentModel;
using System.Reflection;

namespace Shadowing.Core.Configuration;

/// <summary>A configuration section a host binds (<c>Pae:Planner</c>, <c>Shadowing:Sep:Data</c>), and the type it binds to.</summary>
/// <param name="Path">The section's key, <c>:</c>-separated.</param>
/// <param name="Type">What it binds to: an options class, a dictionary of them, or a single value such as <see cref="string"/>.</param>
public sealed record SettingsSection(string Path, Type Type);

/// <summary>
/// Finds configured keys that bind to nothing. The configuration binder ignores them, so a misspelt
/// <c>Pae:Planer:MinHistory</c> would leave the default in force without a word; a host names them and refuses to start.
/// </summary>
public static class SettingsSpelling
{
    /// <summary>
    /// Adds "<c>{key} is not a setting of {owner}: …</c>" to <paramref name="failures"/> for each key under
    /// <paramref name="roots"/> that no section in <paramref name="known"/> binds, naming the key only up to its first
    /// unknown part (so a misspelt section is named once, not once per key below it).
    /// </summary>
    /// <param name="keys">Every configured key with a value (<c>IConfiguration.AsEnumerable()</c>).</param>
    /// <param name="roots">The top-level sections this host owns; keys elsewhere (Logging, Urls, another host's) are not judged.</param>
    /// <param name="known">The sections the host binds; the longest one a key falls under judges it.</param>
    /// <param name="owner">Who the key is not a setting of, for the message ("the router").</param>
    /// <param name="failures">Where the messages go.</param>
    public static void Check(IEnumerable<string> keys, IReadOnlyCollection<string> roots, IReadOnlyCollection<SettingsSection> known, string owner, ICollection<string> failures)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentNullException.ThrowIfNull(known);
        ArgumentNullException.ThrowIfNull(failures);
        var reported = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in keys.Where(k => roots.Any(r => IsUnder(k, r))).OrderBy(k => k, StringComparer.OrdinalIgnoreCase))
        {
            var parts = key.Split(':');
            int bad;
            if (known.Where(s => IsUnder(key, s.Path)).MaxBy(s => s.Path.Length) is { } section)
            {
                var depth = section.Path.Split(':').Length;
                bad = FirstUnbound(section.Type, parts, depth);
            }
            else
            {
                // Under no known section: the first part that leads to none (Shadowing:Embeded of Shadowing:Embeded:StatePath).
                bad = 0;
                while (bad < parts.Length && known.Any(s => IsUnder(s.Path, string.Join(':', parts[..(bad + 1)]))))
                {
                    bad++;
                }

                bad = bad == parts.Length ? -1 : bad; // a section above known ones, given a value: nothing to name
            }

            if (bad >= 0 && reported.Add(string.Join(':', parts[..(bad + 1)])))
            {
                failures.Add($"{string.Join(':', parts[..(bad + 1)])} is not a setting of {owner}: check its spelling against the README's table.");
            }
        }
    }

    /// <summary>Whether <paramref name="key"/> is <paramref name="section"/> or below it (keys compare without case, as configuration does).</summary>
    private static bool IsUnder(string key, string section) =>
        key.Length == section.Length ? key.Equals(section, StringComparison.OrdinalIgnoreCase)
        : key.Length > section.Length && key[section.Length] == ':' && key.StartsWith(section, StringComparison.OrdinalIgnoreCase);

    /// <summary>The index of the first of <paramref name="parts"/> from <paramref name="at"/> that <paramref name="type"/> does not bind, or -1.</summary>
    private static int FirstUnbound(Type type, string[] parts, int at)
    {
        while (at < parts.Length)
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (IsValue(type))
            {
                return at; // a single value has nothing below it
            }

            if ((Generic(type, typeof(IDictionary<,>)) ?? Generic(type, typeof(IReadOnlyDictionary<,>))) is { } dictionary)
            {
                type = dictionary[1]; // any key names an entry
            }
            else if (type.IsArray || Generic(type, typeof(IEnumerable<>)) is not null)
            {
                if (!int.TryParse(parts[at], out _))
                {
                    return at; // a list's entries are numbered
                }

                type = type.IsArray ? type.GetElementType()! : Generic(type, typeof(IEnumerable<>))![0];
            }
            else
            {
                // The binder sets public properties, and fills one without a setter only when it holds an object to fill.
                var property = type.GetProperty(parts[at], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
                if (property is null || property.GetIndexParameters().Length > 0 || (!(property.SetMethod?.IsPublic ?? false) && IsValue(property.PropertyType)))
                {
                    return at;
                }

                type = property.PropertyType;
            }

            at++;
        }

        return -1;
    }

    /// <summary>What the binder converts from one string (numbers, enums, <see cref="TimeSpan"/>, <see cref="Uri"/>…), not a section.</summary>
    private static bool IsValue(Type type) =>
        type == typeof(string) || type.IsPrimitive || type.IsEnum || TypeDescriptor.GetConverter(Nullable.GetUnderlyingType(type) ?? type).CanConvertFrom(typeof(string));

    /// <summary>The type arguments of <paramref name="definition"/> where <paramref name="type"/> is or implements it.</summary>
    private static Type[]? Generic(Type type, Type definition) =>
        (type.IsGenericType && type.GetGenericTypeDefinition() == definition ? type : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition))?.GetGenericArguments();
}
