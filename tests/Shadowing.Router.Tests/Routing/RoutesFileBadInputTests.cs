using CsCheck;
using Shadowing.Router.Routing;
using Shadowing.TestUtilities.BadInput;

namespace Shadowing.Router.Tests.Routing;

/// <summary>
/// The bad-input sweep over routing files and the mirror policies in them: generated tables (valid ones with fields
/// set to any value, unknown fields, broken YAML and JSON) either load or fail with a <see cref="RoutesFileException"/>
/// naming the file; nothing else escapes.
/// </summary>
public sealed class RoutesFileBadInputTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("routes-sweep").FullName;

    private static Gen<string> Endpoint { get; } = BadInputSweep.JsonObjectOf("id", "address", "maxConcurrency", "maxLatencyMs", "state", "dataIsolated");

    private static Gen<string> Mirror { get; } = Gen.Frequency(
        (3, BadInputSweep.JsonObjectOf("enabled", "percent", "salt", "methods", "includePaths", "excludePaths", "maxBodyBytes", "targets", "transport", "timeout", "stripHeaders", "stripQuery", "stripJsonFields", "ignoreFields", "secondaryShare", "timeShift", "amplify", "targetRatePerSecond", "ratePerSecond", "timeToLive")),
        (1, Gen.Select(BadInputSweep.JsonScalar, BadInputSweep.JsonScalar, BadInputSweep.JsonScalar).Select(v => "{\"percent\":" + v.Item1 + ",\"selector\":{\"kind\":" + v.Item2 + ",\"name\":" + v.Item3 + "}}")));

    /// <summary>A table whose every part may be off: endpoints with any field values, a mirror policy, or junk.</summary>
    private static Gen<string> Table { get; } = Gen.Select(Endpoint.Array[0, 3], Endpoint.Array[0, 2], Mirror, BadInputSweep.JsonScalar).Select(t =>
        $$"""{"production":[{{string.Join(",", t.Item1)}}],"shadows":[{{string.Join(",", t.Item2)}}],"mirror":{{t.Item3}},"idempotentRequests":{{t.Item4}}}""");

    private static Gen<(string Text, bool Yaml)> File { get; } = Gen.Frequency(
        (6, Gen.Select(BadInputSweep.NastyString.Where(s => s.Length < 100), Table).Select(t => ("{\"services\":{" + System.Text.Json.JsonSerializer.Serialize(t.Item1) + ":" + t.Item2 + "}}", false))),
        (2, Table.Select(t => ("{\"services\":{\"orders\":" + t + "}}", true))), // JSON is YAML too
        (1, BadInputSweep.NastyString.Select(s => ("services:\n  orders:\n    production:\n      - " + s, true))),
        (1, BadInputSweep.NastyString.Select(s => (s, false))));

    [Fact]
    public void GeneratedRoutingFiles_LoadOrFailWithAMessageNamingTheFile()
    {
        var loaded = 0;
        BadInputSweep.Run(
            "routing files",
            File,
            input =>
            {
                var path = Path.Combine(_directory, input.Yaml ? "routes.yaml" : "routes.json");
                System.IO.File.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(input.Text)); // lone surrogates become U+FFFD, as in any file
                try
                {
                    RoutesFile.Load(path);
                    loaded++;
                }
                catch (RoutesFileException ex)
                {
                    Assert.Contains(Path.GetFileName(path), ex.Message, StringComparison.Ordinal);
                }
            },
            output);
        output.WriteLine($"{loaded} of {BadInputSweep.DefaultCases} generated files were valid");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
