using Shadowing.Core.Configuration;

namespace Shadowing.Core.Tests.Configuration;

public sealed class SettingsSpellingTests
{
    private static readonly SettingsSection[] Known =
    [
        new("App", typeof(AppSettings)),
        new("App:Guard", typeof(GuardSettings)),
        new("App:Data", typeof(Dictionary<string, GuardSettings>)),
        new("App:Kind", typeof(string)),
        new("Other:Urls", typeof(string)),
    ];

    [Theory]
    [InlineData("App:Step")]
    [InlineData("app:planner:leadtime")] // configuration keys ignore case
    [InlineData("App:Planner:Weights:0")]
    [InlineData("App:Planner:Capacity:orders")]
    [InlineData("App:Planner")] // a section given a value: nothing below it to misspell
    [InlineData("App:Guard:Max")]
    [InlineData("App:Data:orders:Max")]
    [InlineData("App:Kind")]
    [InlineData("App:Names:3")]
    [InlineData("App:Filled:Max")] // no setter, but an object the binder fills
    [InlineData("Other:Urls")]
    [InlineData("Logging:LogLevel:Default")] // not a root this host owns
    public void Check_KeyThatBinds_PassesUnnamed(string key)
    {
        Assert.Empty(Failures(key));
    }

    [Theory]
    [InlineData("App:Stepp", "App:Stepp")]
    [InlineData("App:Planer:LeadTime", "App:Planer")]
    [InlineData("App:Planner:LeadTme", "App:Planner:LeadTme")]
    [InlineData("App:Planner:Weights:first", "App:Planner:Weights:first")] // a list's entries are numbered
    [InlineData("App:Step:Minutes", "App:Step:Minutes")] // a single value has nothing below it
    [InlineData("App:Guard:Maximum", "App:Guard:Maximum")] // judged by the longer section's type
    [InlineData("App:Data:orders:Maximum", "App:Data:orders:Maximum")]
    [InlineData("App:Kind:Local", "App:Kind:Local")]
    [InlineData("App:Count", "App:Count")] // no setter, a single value: the binder cannot set it
    [InlineData("Other:Url", "Other:Url")] // under no known section: named to its first unknown part
    [InlineData("Other:Admin:Urls", "Other:Admin")]
    public void Check_KeyThatBindsToNothing_NamedToItsFirstUnknownPart(string key, string named)
    {
        var failure = Assert.Single(Failures(key));

        Assert.Equal($"{named} is not a setting of the test: check its spelling against the README's table.", failure);
    }

    [Fact]
    public void Check_MisspeltSection_NamedOnceForEveryKeyBelowIt()
    {
        var failure = Assert.Single(Failures("App:Planer:LeadTime", "App:Planer:Headroom", "App:planer:MinHistory"));

        Assert.StartsWith("App:Planer is", failure, StringComparison.Ordinal);
    }

    private static List<string> Failures(params string[] keys)
    {
        var failures = new List<string>();
        SettingsSpelling.Check(keys, ["App", "Other"], Known, "the test", failures);
        return failures;
    }

    private sealed class AppSettings
    {
        public TimeSpan Step { get; set; }

        public PlannerSettings Planner { get; set; } = new();

        public List<string> Names { get; set; } = [];

        public GuardSettings Filled { get; } = new();

        public int Count { get; }
    }

    private sealed class PlannerSettings
    {
        public TimeSpan LeadTime { get; set; }

        public double[] Weights { get; set; } = [];

        public Dictionary<string, double> Capacity { get; set; } = [];
    }

    private sealed class GuardSettings
    {
        public int Max { get; set; }
    }
}
