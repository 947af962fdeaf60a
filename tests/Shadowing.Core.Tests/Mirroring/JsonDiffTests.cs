using System.Text;
using Shadowing.Core.Mirroring;

namespace Shadowing.Core.Tests.Mirroring;

public sealed class JsonDiffTests
{
    [Fact]
    public void Compare_ReportsThePathOfEveryDifference()
    {
        var paths = Diff(
            """{"id":1,"name":"a","items":[{"price":1},{"price":2}],"only":true,"nested":{"x":1}}""",
            """{"id":1,"name":"b","items":[{"price":1},{"price":3},{"price":4}],"nested":{"x":"1"},"extra":null}""");

        Assert.Equal(["$.name", "$.items[1].price", "$.items[2]", "$.only", "$.nested.x", "$.extra"], paths);
    }

    [Fact]
    public void Compare_EqualDocumentsWithOtherMemberOrder_NoDifference()
    {
        Assert.Empty(Diff("""{"a":1,"b":[1,2]}""", """{"b":[1,2],"a":1}""")!);
    }

    [Theory]
    [InlineData("""{"price":1.0,"n":1e2,"name":"caf\u00e9","path":"a\/b"}""", """{"price":1,"n":100,"name":"café","path":"a/b"}""")]
    [InlineData("""[0.10, -0, 12345678901234567890]""", """[0.1, 0, 12345678901234567890]""")]
    public void Compare_SameValuesWrittenDifferently_NoDifference(string left, string right)
    {
        // Another serializer, or another version of one, writes the same values: a client reads no difference.
        Assert.Empty(Diff(left, right)!);
    }

    [Theory]
    [InlineData("""{"v":1.5}""", """{"v":1.50001}""")]
    [InlineData("""{"v":123456789012345678901234567890123}""", """{"v":123456789012345678901234567890124}""")] // past decimal: by text
    [InlineData("""{"v":"\ud800"}""", """{"v":"\ud801"}""")]
    [InlineData("""{"v":"a"}""", """{"v":"A"}""")]
    public void Compare_DifferentValues_AreDifferences(string left, string right) =>
        Assert.Equal(["$.v"], Diff(left, right)!);

    [Fact]
    public void Compare_NotJson_Null()
    {
        Assert.Null(Diff("<html/>", """{"a":1}"""));
        Assert.Null(Diff("""{"a":1}""", "plain"));
    }

    [Theory]
    [InlineData("updatedAt")]
    [InlineData("$.updatedAt")]
    public void Ignore_ExactField(string rule) =>
        Assert.Empty(Diff("""{"updatedAt":"1","n":1}""", """{"updatedAt":"2","n":1}""", rule)!);

    [Fact]
    public void Ignore_WildcardIndexAndSubtree()
    {
        var left = """{"items":[{"id":1,"etag":"a"},{"id":2,"etag":"b"}],"meta":{"took":1,"host":"x"},"n":1}""";
        var right = """{"items":[{"id":1,"etag":"c"},{"id":2,"etag":"d"}],"meta":{"took":9,"host":"y"},"n":2}""";

        Assert.Equal(["$.n"], Diff(left, right, "items[*].etag", "meta.*")!);
    }

    [Fact]
    public void Compare_ManyDifferences_CappedWithAnEllipsis()
    {
        var left = "{" + string.Join(',', Enumerable.Range(0, 200).Select(i => $"\"f{i}\":{i}")) + "}";
        var right = "{" + string.Join(',', Enumerable.Range(0, 200).Select(i => $"\"f{i}\":{i + 1}")) + "}";

        var paths = Diff(left, right)!;

        Assert.Equal(JsonDiff.MaxPaths + 1, paths.Count);
        Assert.Equal(JsonDiff.More, paths[^1]);
    }

    [Fact]
    public void Compare_ANameWithALoneSurrogate_IsNotComparable_NotAnException()
    {
        Assert.Null(Diff("""{"\ud83d":1}""", """{"\ud83d":2}"""));
    }

    [Fact]
    public void Compare_OnePathPerShape_SoALongArrayDifferingInOneFieldHidesNothingElse()
    {
        // Every item's timestamp differs, as between two production answers; the shadow also lost an item and its total.
        string Doc(int items, int stamp) => "{\"items\":[" + string.Join(',', Enumerable.Range(0, items).Select(i => $"{{\"id\":{i},\"at\":{stamp + i}}}")) + $"],\"total\":{items}}}";

        Assert.Equal(["$.items[0].at"], Diff(Doc(70, 0), Doc(70, 1000))!);
        Assert.Equal(["$.items[0].at", "$.items[69]", "$.total"], Diff(Doc(70, 0), Doc(69, 1000))!);
        Assert.Equal("$.items[*].at", JsonDiff.Shape("$.items[12].at"));
    }

    private static IReadOnlyList<string>? Diff(string left, string right, params string[] ignore) =>
        JsonDiff.Compare(Encoding.UTF8.GetBytes(left), Encoding.UTF8.GetBytes(right), ignore);
}
