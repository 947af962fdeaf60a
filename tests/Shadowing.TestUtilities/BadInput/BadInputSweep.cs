using CsCheck;

namespace Shadowing.TestUtilities.BadInput;

/// <summary>
/// The bad-input sweep: a fixed number of generated malformed inputs per public surface, from a fixed seed, so a CI run
/// is bounded and any failure is reproduced by running the same test again (or with <c>SHADOWING_SWEEP_SEED</c> set to
/// explore other inputs). The seed and the failing case's index and input are in the failure message.
/// </summary>
public static class BadInputSweep
{
    /// <summary>The seed every sweep starts from unless <c>SHADOWING_SWEEP_SEED</c> says otherwise.</summary>
    public const ulong DefaultSeed = 20261202;

    /// <summary>Cases per surface.</summary>
    public const int DefaultCases = 150;

    /// <summary>The seed in use.</summary>
    public static ulong Seed { get; } =
        ulong.TryParse(Environment.GetEnvironmentVariable("SHADOWING_SWEEP_SEED"), System.Globalization.CultureInfo.InvariantCulture, out var seed) ? seed : DefaultSeed;

    /// <summary>Runs <paramref name="check"/> on <paramref name="cases"/> inputs of <paramref name="gen"/>; returns how many ran.</summary>
    public static async Task<int> RunAsync<T>(string surface, Gen<T> gen, Func<T, Task> check, ITestOutputHelper? output = null, int cases = DefaultCases)
    {
        ArgumentNullException.ThrowIfNull(gen);
        ArgumentNullException.ThrowIfNull(check);

        // One PCG stream per surface: adding a surface does not change the inputs of the others.
        var pcg = new PCG(StableHash(surface) & 0x7FFFFFFF, Seed);
        output?.WriteLine($"bad-input sweep '{surface}': {cases} cases, seed {Seed} (set SHADOWING_SWEEP_SEED to change)");
        for (var i = 0; i < cases; i++)
        {
            var input = gen.Generate(pcg, null, out _);
            try
            {
                await check(input).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"bad-input sweep '{surface}' (seed {Seed}), case {i}: {Check.Print(input)}{Environment.NewLine}{ex.Message}", ex);
            }
        }

        return cases;
    }

    /// <summary>FNV-1a: string.GetHashCode is randomised per process, and the inputs must be the same in every run.</summary>
    private static uint StableHash(string text)
    {
        var hash = 2166136261;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    /// <summary>Synchronous form of <see cref="RunAsync{T}"/>.</summary>
    public static int Run<T>(string surface, Gen<T> gen, Action<T> check, ITestOutputHelper? output = null, int cases = DefaultCases)
    {
        ArgumentNullException.ThrowIfNull(check);
        return RunAsync(surface, gen, input => { check(input); return Task.CompletedTask; }, output, cases).GetAwaiter().GetResult();
    }

    /// <summary>Strings that break parsers: empty, whitespace, control and non-ASCII characters, quotes, very long ones.</summary>
    public static Gen<string> NastyString { get; } = Gen.Frequency(
        (3, Gen.String),
        (2, Gen.Char["\0\r\n\t \"'\\/{}[]:,.%?#&=;<>|*$@!~`^-_+é漢\u202e\ud83d"].Array[0, 40].Select(c => new string(c))),
        (1, Gen.OneOf("", " ", "null", "true", "-1", "0", "1e309", "NaN", "-0", "9999999999999999999999", "../..", "%2e%2e", "%00", "{}", "[]", "{\"a\":", "\"unterminated")),
        (1, Gen.Int[1000, 70_000].Select(n => new string('a', n))));

    /// <summary>A JSON value of any kind, with edge-case numbers, dates and durations among the strings.</summary>
    public static Gen<string> JsonScalar { get; } = Gen.Frequency(
        (2, NastyString.Select(v => System.Text.Json.JsonSerializer.Serialize(v))),
        (1, Gen.OneOf("null", "true", "false", "0", "-1", "1", "2", "0.5", "-0.0", "1e308", "-1e308", "1e-320", "2147483648", "-9223372036854775809", "123456789012345678901234567890")),
        (2, Gen.OneOf("\"2026-12-02T10:00:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"0001-01-01T00:00:00Z\"", "\"2026-13-40\"", "\"00:00:00\"", "\"-01:00:00\"", "\"10675199.02:48:05\"", "\"1.00:00:00\"", "\"PreWarmed\"", "\"Active\"", "\"http://127.0.0.1:9\"", "\"dapr://app\"", "\"ftp://x\"", "\"header\"", "\"cookie\"", "\"jwt\"", "\"sub\"")),
        (1, Gen.Int[-3, 3].Array[0, 3].Select(a => "[" + string.Join(",", a) + "]")),
        (1, Gen.Const("{}")));

    /// <summary>A JSON object with some of <paramref name="fields"/> (and now and then an unknown one), each with any value.</summary>
    public static Gen<string> JsonObjectOf(params string[] fields)
    {
        var field = Gen.Frequency((9, Gen.OneOf(fields)), (1, NastyString));
        return Gen.Select(field, JsonScalar).Array[0, 6].Select(pairs => "{" + string.Join(",", pairs.Select(p => System.Text.Json.JsonSerializer.Serialize(p.Item1) + ":" + p.Item2)) + "}");
    }

    /// <summary>A request body: mostly JSON objects of <paramref name="fields"/>, sometimes arrays of them, sometimes not JSON at all.</summary>
    public static Gen<string> JsonBodyOf(params string[] fields) => Gen.Frequency(
        (6, JsonObjectOf(fields)),
        (2, JsonObjectOf(fields).Array[0, 4].Select(items => "[" + string.Join(",", items) + "]")),
        (2, NastyString));
}
