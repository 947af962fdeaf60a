using System.Globalization;

namespace Shadowing.TestUtilities.Metrics;

/// <summary>Reads values out of a Prometheus text exposition.</summary>
public static class PrometheusText
{
    /// <summary>
    /// The value of the first sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/>,
    /// or null when there is none.
    /// </summary>
    public static double? Value(string exposition, string name, params (string Name, string Value)[] labels) =>
        Samples(exposition, name, labels).Select(v => (double?)v).FirstOrDefault();

    /// <summary>The sum of every sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/> (0 when none).</summary>
    public static double Sum(string exposition, string name, params (string Name, string Value)[] labels) =>
        Samples(exposition, name, labels).Sum();

    private static IEnumerable<double> Samples(string exposition, string name, (string Name, string Value)[] labels)
    {
        ArgumentNullException.ThrowIfNull(exposition);
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line[name.Length..];
            var present = new Dictionary<string, string>(StringComparer.Ordinal);
            if (rest.StartsWith('{'))
            {
                var close = rest.IndexOf('}', StringComparison.Ordinal);
                foreach (var pair in rest[1..close].Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    present[pair[..eq]] = pair[(eq + 1)..].Trim('"');
                }

                rest = rest[(close + 1)..];
            }
            else if (!rest.StartsWith(' '))
            {
                continue; // a longer metric name with the same prefix
            }

            if (labels.All(l => present.TryGetValue(l.Name, out var v) && v == l.Value))
            {
                yield return double.Parse(rest.Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }
    }
}
