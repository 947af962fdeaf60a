using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Shadowing.Cli.Up;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Cli.Tests.Up;

public sealed partial class UpSettingsTests
{
    [Fact]
    public void CheckUpSettings_EveryKeyTheReadmeAndTheShippedFilesName_IsASetting()
    {
        var tables = TableKeys().ToArray();
        Assert.Contains("Shadowing:Sep:WarmupTime", tables);
        Assert.Contains("Router:Mirroring:Senders", tables);
        Assert.Contains("Pae:Risk:ClearScore", tables); // a bare name after `Risk:ZThreshold` in its row
        Assert.Contains("Shadowing:Sep:Data:orders:Shift", tables);
        Assert.Contains("Shadowing:Embedded:Workflows:Port", tables);
        var keys = ReadmeKeys()
            .Concat(tables)
            .Concat(JsonKeys(Path.Combine(RepositoryFiles.Root, "cli", "Shadowing.Cli", "shadowing.json")))
            .Concat(JsonKeys(Path.Combine(RepositoryFiles.Root, "router", "Shadowing.Router", "appsettings.json")))
            .Concat(JsonKeys(Path.Combine(RepositoryFiles.Root, "functions", "Shadowing.Functions", "local.settings.sample.json")).Select(k => k.Replace("Values:", string.Empty, StringComparison.Ordinal).Replace("__", ":", StringComparison.Ordinal)))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToArray();
        Assert.Contains("Pae:Planner:LeadTime", keys);
        Assert.Contains("Shadowing:Sep:Data:orders:Mode", keys);

        Check(keys); // throws naming any key `up` would refuse
    }

    [Theory]
    [InlineData("Pae:Planer:LeadTime", "Pae:Planer")]
    [InlineData("Shadowing:Sep:WarmupTme", "Shadowing:Sep:WarmupTme")]
    [InlineData("Shadowing:Embeded:StatePath", "Shadowing:Embeded")]
    [InlineData("Router:Mirroring:Sender", "Router:Mirroring:Sender")]
    [InlineData("Samples:orders:Prodution:0:Id", "Samples:orders:Prodution")]
    public void CheckUpSettings_MisspeltKey_FailsNamingIt(string key, string named)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Check([key]));

        Assert.Equal($"{named} is not a setting of shadowing up: check its spelling against the README's table.", Assert.Single(error.Failures));
    }

    /// <summary>Composes `up` on an empty configuration, then checks <paramref name="keys"/> as `up` checks its own.</summary>
    private static void Check(IEnumerable<string> keys)
    {
        var services = new ServiceCollection().AddUpHost(new ConfigurationBuilder().Build(), [], "the test");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(keys.Select(k => new KeyValuePair<string, string?>(k, "1"))).Build();
        services.CheckUpSettings(configuration);
    }

    /// <summary>Every setting the README names in backquotes, its placeholders filled in.</summary>
    private static IEnumerable<string> ReadmeKeys() =>
        ReadmeKey().Matches(File.ReadAllText(Path.Combine(RepositoryFiles.Root, "README.md")))
            .Select(m => m.Groups[1].Value.Replace("{service}", "orders", StringComparison.Ordinal).Replace("{kind}", "Cpu", StringComparison.Ordinal).TrimEnd(':'));

    /// <summary>
    /// Every key of the README's settings tables (`| key | default | meaning |`), under the section the lines just above
    /// the table name (`section `Pae``, or `Shadowing:Sep:Data:{service}`).
    /// </summary>
    private static IEnumerable<string> TableKeys()
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryFiles.Root, "README.md"));
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("| key | default | meaning |", StringComparison.Ordinal))
            {
                continue;
            }

            var section = Enumerable.Range(Math.Max(0, i - 4), Math.Min(4, i)).Reverse()
                .Select(j => SectionName().Match(lines[j]))
                .FirstOrDefault(m => m.Success)?.Groups["s"].Value.Replace("{service}", "orders", StringComparison.Ordinal);
            Assert.True(section is not null, $"README line {i + 1}: a settings table without its section named just above it");
            for (var row = i + 2; row < lines.Length && lines[row].StartsWith('|'); row++)
            {
                // "`Planner:LeadTime`, `Headroom`": the bare names after the first share its prefix.
                var prefix = string.Empty;
                foreach (Match key in TableKey().Matches(lines[row].Split('|')[1]))
                {
                    var name = key.Groups[1].Value.Replace("{service}", "orders", StringComparison.Ordinal);
                    if (name.Contains(':', StringComparison.Ordinal))
                    {
                        prefix = name[..(name.LastIndexOf(':') + 1)];
                    }
                    else
                    {
                        name = prefix + name;
                    }

                    yield return $"{section}:{name}";
                }
            }
        }
    }

    private static IEnumerable<string> JsonKeys(string path) =>
        new ConfigurationBuilder().AddJsonFile(path).Build().AsEnumerable().Where(e => e.Value is not null).Select(e => e.Key);

    [GeneratedRegex(@"`((?:Shadowing|Pae|Router|Samples):[A-Za-z0-9:{}]+)")]
    private static partial Regex ReadmeKey();

    [GeneratedRegex(@"section `(?<s>[A-Za-z:]+)`|`(?<s>Shadowing:Sep:Data:\{service\})`")]
    private static partial Regex SectionName();

    [GeneratedRegex(@"`([A-Za-z][A-Za-z0-9:{}]*)`")]
    private static partial Regex TableKey();
}
