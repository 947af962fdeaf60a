using System.Text.Json;

namespace Shadowing.Core.Mirroring;

/// <summary>
/// The JSON paths (<c>$.items[0].price</c>) whose values differ between two JSON documents: leaves compared by value
/// as a JSON reader sees them (numbers as decimals, so <c>1.0</c> is <c>1</c>; strings unescaped, so <c>"\u00e9"</c> is
/// <c>"é"</c>: another serializer, or another version of one, is not a difference), arrays by index, a member present on
/// one side only is a difference at its path. Ignored paths (exact,
/// or a prefix ending in <c>.*</c> or with array indexes written <c>[*]</c>) are left out. A path is listed once per
/// shape, at its first index (<c>$.items[0].at</c> stands for every <c>$.items[i].at</c> that differs): a judge reads
/// shapes, and a long array whose every item differs in one field would otherwise fill the list and hide what else
/// differs.
/// </summary>
public static partial class JsonDiff
{
    /// <summary>Most paths reported; beyond it the list ends with <see cref="More"/>.</summary>
    public const int MaxPaths = 64;

    /// <summary>The last entry of a list cut at <see cref="MaxPaths"/>: more paths differ than are listed.</summary>
    public const string More = "…";

    /// <summary>The differing paths; null when either side is not JSON.</summary>
    public static IReadOnlyList<string>? Compare(ReadOnlyMemory<byte> left, ReadOnlyMemory<byte> right, IReadOnlyList<string> ignore)
    {
        ArgumentNullException.ThrowIfNull(ignore);
        JsonDocument? a = null;
        JsonDocument? b = null;
        try
        {
            a = JsonDocument.Parse(left);
            b = JsonDocument.Parse(right);
        }
        catch (JsonException)
        {
            a?.Dispose();
            return null;
        }

        using (a)
        using (b)
        {
            var paths = new Paths();
            try
            {
                Walk("$", a.RootElement, b.RootElement, ignore, paths);
            }
            catch (InvalidOperationException)
            {
                return null; // a property name with an escaped lone surrogate has no string: compared as not JSON
            }

            return paths.Listed;
        }
    }

    private static void Walk(string path, JsonElement left, JsonElement right, IReadOnlyList<string> ignore, Paths paths)
    {
        if (paths.Full || Ignored(path, ignore))
        {
            return;
        }

        if (left.ValueKind != right.ValueKind)
        {
            paths.Add(path);
            return;
        }

        switch (left.ValueKind)
        {
            case JsonValueKind.Object:
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in left.EnumerateObject())
                {
                    names.Add(property.Name);
                    var child = $"{path}.{property.Name}";
                    if (right.TryGetProperty(property.Name, out var other))
                    {
                        Walk(child, property.Value, other, ignore, paths);
                    }
                    else if (!Ignored(child, ignore))
                    {
                        paths.Add(child);
                    }
                }

                foreach (var property in right.EnumerateObject().Where(p => !names.Contains(p.Name)))
                {
                    var child = $"{path}.{property.Name}";
                    if (!Ignored(child, ignore))
                    {
                        paths.Add(child);
                    }
                }

                break;
            case JsonValueKind.Array:
                var length = Math.Max(left.GetArrayLength(), right.GetArrayLength());
                for (var i = 0; i < length; i++)
                {
                    var child = $"{path}[{i}]";
                    if (i >= left.GetArrayLength() || i >= right.GetArrayLength())
                    {
                        if (!Ignored(child, ignore))
                        {
                            paths.Add(child);
                        }

                        continue;
                    }

                    Walk(child, left[i], right[i], ignore, paths);
                }

                break;
            default:
                if (!SameValue(left, right))
                {
                    paths.Add(path);
                }

                break;
        }
    }

    /// <summary>Two leaves of the same kind: equal text, or the same value read as a client would read it.</summary>
    private static bool SameValue(JsonElement left, JsonElement right)
    {
        if (string.Equals(left.GetRawText(), right.GetRawText(), StringComparison.Ordinal))
        {
            return true;
        }

        switch (left.ValueKind)
        {
            case JsonValueKind.Number:
                // Beyond decimal's range (28 digits) the texts alone decide: a double would call different integers equal.
                return left.TryGetDecimal(out var a) && right.TryGetDecimal(out var b) && a == b;
            case JsonValueKind.String:
                try
                {
                    return string.Equals(left.GetString(), right.GetString(), StringComparison.Ordinal);
                }
                catch (InvalidOperationException)
                {
                    return false; // an escaped lone surrogate: no string to compare, and the texts differ
                }

            default:
                return true; // true, false, null: the kinds matched
        }
    }

    /// <summary>A path with its array indexes made generic: <c>$.items[3].price</c> is <c>$.items[*].price</c>.</summary>
    public static string Shape(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return path.Contains('[', StringComparison.Ordinal) ? Index().Replace(path, "[*]") : path;
    }

    private static bool Below(string path, string prefix) =>
        path == prefix || (path.StartsWith(prefix, StringComparison.Ordinal) && path.Length > prefix.Length && path[prefix.Length] is '.' or '[');

    /// <summary>Whether <paramref name="path"/> is ignored: equal to an entry, below an entry ending in <c>.*</c>, or matching one with <c>[*]</c> for any index.</summary>
    public static bool Ignored(string path, IReadOnlyList<string> ignore)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(ignore);
        if (ignore.Count == 0)
        {
            return false;
        }

        var generic = Shape(path);
        foreach (var entry in ignore)
        {
            var rule = entry.StartsWith('$') ? entry : "$." + entry;
            if (rule.EndsWith(".*", StringComparison.Ordinal))
            {
                var prefix = rule[..^2];
                if (Below(path, prefix) || Below(generic, prefix))
                {
                    return true;
                }
            }
            else if (path == rule || generic == rule)
            {
                return true;
            }
        }

        return false;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\[\d+\]")]
    private static partial System.Text.RegularExpressions.Regex Index();

    /// <summary>The paths listed so far: one per shape, at most <see cref="MaxPaths"/>, then <see cref="More"/>.</summary>
    private sealed class Paths
    {
        private HashSet<string>? _shapes; // only once something differs: most answers are the same

        public List<string> Listed { get; } = [];

        public bool Full => Listed.Count > MaxPaths;

        public void Add(string path)
        {
            if (Full || !(_shapes ??= new(StringComparer.Ordinal)).Add(Shape(path)))
            {
                return;
            }

            Listed.Add(Listed.Count < MaxPaths ? path : More);
        }
    }
}
