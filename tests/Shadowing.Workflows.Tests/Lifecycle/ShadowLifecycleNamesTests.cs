using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Lifecycle;

public sealed class ShadowLifecycleNamesTests
{
    [Theory]
    [InlineData("orders", 1, "shadows-orders-20261202T1200Z")]
    [InlineData("orders", 3, "shadows-orders-20261202T1200Z-r3")]
    public void InstanceId_ShortServiceName_ReadsAsServiceWindowAndRevision(string service, int revision, string expected)
    {
        var request = WorkflowHarness.NewRequest() with { Service = service };

        Assert.Equal(expected, ShadowLifecycleNames.InstanceId(request, revision));
        Assert.Equal(revision, ShadowLifecycleNames.RevisionOf(expected));
    }

    [Theory]
    [InlineData("orders.v2")] // '.' is a valid service name character but not an instance id one
    [InlineData("a123456789b123456789c123456789d123456789e123456789f123456789abc")] // 63 characters, the longest service name
    public void InstanceId_AnyValidServiceName_FitsDaprsRuleAtEveryRevision(string service)
    {
        var request = WorkflowHarness.NewRequest() with { Service = service };

        foreach (var revision in new[] { 1, 2, 9999 })
        {
            var id = ShadowLifecycleNames.InstanceId(request, revision);
            Assert.InRange(id.Length, 1, ShadowLifecycleNames.MaxInstanceIdLength);
            Assert.All(id, c => Assert.True(char.IsAsciiLetterOrDigit(c) || c is '-' or '_', $"'{c}' in {id}"));
            Assert.Equal(revision, ShadowLifecycleNames.RevisionOf(id));
        }
    }

    [Fact]
    public void InstanceId_ServicesThatShortenAlike_StillGetDistinctIds()
    {
        var request = WorkflowHarness.NewRequest();

        var dotted = ShadowLifecycleNames.InstanceId(request with { Service = "orders.v2" });
        var underscored = ShadowLifecycleNames.InstanceId(request with { Service = "orders_v2" });
        var longA = ShadowLifecycleNames.InstanceId(request with { Service = new string('a', 60) + "xyz" });
        var longB = ShadowLifecycleNames.InstanceId(request with { Service = new string('a', 60) + "xyw" });

        Assert.Equal(4, new[] { dotted, underscored, longA, longB }.Distinct().Count());
    }

    [Fact]
    public void ShadowId_LaterRevisions_DoNotReuseTheFirstRevisionsIds()
    {
        var request = WorkflowHarness.NewRequest();

        Assert.Equal("s20261202t1200-1", ShadowLifecycleNames.ShadowId(request, 1));
        Assert.Equal("s20261202t1200r2-1", ShadowLifecycleNames.ShadowId(request, 1, revision: 2));
    }
}
