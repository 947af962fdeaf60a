using System.Text;
using System.Text.Json;
using Shadowing.Core.Mirroring;

namespace Shadowing.Core.Tests.Mirroring;

public sealed class AnswerFingerprintTests
{
    [Fact]
    public void Of_KeepsTheShape_NoValueOfTheAnswer()
    {
        var body = """{"access_token":"eyJhbGciOi.secret-part","expires_in":3600,"user":{"email":"alice@example.com","admin":true,"pin":"4711"},"items":[{"id":"a-1"},null]}""";

        var fingerprint = Encoding.UTF8.GetString(AnswerFingerprint.Of(Encoding.UTF8.GetBytes(body), "req-1"));

        foreach (var value in new[] { "eyJhbGciOi", "secret-part", "3600", "alice", "example.com", "4711", "a-1" })
        {
            Assert.DoesNotContain(value, fingerprint, StringComparison.Ordinal);
        }

        using var document = JsonDocument.Parse(fingerprint);
        var root = document.RootElement;
        Assert.Equal(["access_token", "expires_in", "user", "items"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(JsonValueKind.True, root.GetProperty("user").GetProperty("admin").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("items")[1].ValueKind);
        Assert.Equal(8, root.GetProperty("access_token").GetString()!.Length);
    }

    [Fact]
    public void Of_SaltedByTheEnvelope_TheSameValueHashesOtherwiseInAnother()
    {
        var body = """{"session":"abc"}"""u8.ToArray();

        Assert.Equal(AnswerFingerprint.Of(body, "req-1"), AnswerFingerprint.Of(body, "req-1"));
        Assert.NotEqual(AnswerFingerprint.Of(body, "req-1"), AnswerFingerprint.Of(body, "req-2"));
    }

    // The replayer compares fingerprints where the direct transport compares bodies: the paths must be the same.
    [Theory]
    [InlineData("""{"id":1,"name":"a","items":[{"price":1},{"price":2}],"only":true,"nested":{"x":1}}""", """{"id":1,"name":"b","items":[{"price":1},{"price":3},{"price":4}],"nested":{"x":"1"},"extra":null}""")]
    [InlineData("""{"a":1,"b":[1,2]}""", """{"b":[1,2],"a":1}""")]
    [InlineData("""{"price":1.0,"n":1e2,"name":"caf\u00e9","path":"a\/b"}""", """{"price":1,"n":100,"name":"café","path":"a/b"}""")]
    [InlineData("""[0.10, -0, 12345678901234567890, 1.50]""", """[0.1, 0, 12345678901234567890, 1.5]""")]
    [InlineData("""{"v":1.5}""", """{"v":1.50001}""")]
    [InlineData("""{"v":123456789012345678901234567890123}""", """{"v":123456789012345678901234567890124}""")]
    [InlineData("""{"v":123456789012345678901234567890123}""", """{"v":123456789012345678901234567890123}""")]
    [InlineData("""{"v":"\ud800"}""", """{"v":"\ud801"}""")]
    [InlineData("""{"v":"\ud800","w":1}""", """{"v":"\ud800","w":2}""")]
    [InlineData("""{"v":"a"}""", """{"v":"A"}""")]
    [InlineData("""{"v":1}""", """{"v":"1"}""")]
    [InlineData("""{"v":true}""", """{"v":false}""")]
    [InlineData("""{"v":null}""", """{"v":"null"}""")]
    [InlineData("""{"v":{}}""", """{"v":[]}""")]
    [InlineData("""{"v":{"a":1}}""", """{"v":"x"}""")]
    [InlineData("""{"a":1}""", """not json""")]
    [InlineData("""plain text""", """plain text!""")]
    [InlineData("""plain text""", """plain text""")]
    [InlineData("""{"a":1} trailing""", """{"a":1}""")]
    [InlineData("""{"\ud800":1}""", """{"\ud800":2}""")]
    [InlineData("", "{}")]
    [InlineData("\"a\"", "\"b\"")]
    public void Compare_OnFingerprints_TheSamePathsAsOnTheAnswers(string production, string shadow)
    {
        var (left, right) = (Encoding.UTF8.GetBytes(production), Encoding.UTF8.GetBytes(shadow));
        var expected = left.AsSpan().SequenceEqual(right) ? [] : JsonDiff.Compare(left, right, []) ?? ["$"];

        var (a, b) = (AnswerFingerprint.Of(left, "id-7"), AnswerFingerprint.Of(right, "id-7"));
        var actual = a.AsSpan().SequenceEqual(b) ? [] : JsonDiff.Compare(a, b, []) ?? ["$"];

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Compare_OnFingerprints_IgnoredFieldsStayIgnored()
    {
        var (a, b) = (AnswerFingerprint.Of("""{"at":"10:00","items":[{"etag":"x","n":1}]}"""u8, "s"), AnswerFingerprint.Of("""{"at":"10:01","items":[{"etag":"y","n":2}]}"""u8, "s"));

        Assert.Equal(["$.items[0].n"], JsonDiff.Compare(a, b, ["at", "items[*].etag"]));
    }

    [Theory]
    [InlineData("1.0", "1")]
    [InlineData("1.50", "1.5")]
    [InlineData("-0.0", "0")]
    [InlineData("1E2", "100.00")]
    [InlineData("-12.340", "-12.34")]
    [InlineData("0.0000010", "0.000001")]
    public void Canonical_OneTextPerValue(string value, string same)
    {
        static string Of(string text) => AnswerFingerprint.Canonical(decimal.Parse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(Of(same), Of(value));
        Assert.NotEqual(Of(same), Of(value + "1"));
    }
}
