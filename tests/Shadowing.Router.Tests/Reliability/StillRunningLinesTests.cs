namespace Shadowing.Router.Tests.Reliability;

/// <summary>
/// The assembly-wide still-running lines (Shadowing.TestUtilities.Runner): the soak test here once ran silently until
/// the test process exited, and xunit's runner reported the process as crashed, losing its result.
/// </summary>
public sealed class StillRunningLinesTests
{
    [Fact]
    public async Task ALongTest_WritesAStillRunningLine_WhileItRuns()
    {
        var output = TestContext.Current.TestOutputHelper!;
        var deadline = TimeProvider.System.GetTimestamp() + (TimeProvider.System.TimestampFrequency * 60);
        while (!output.Output.Contains("(still running after", StringComparison.Ordinal) && TimeProvider.System.GetTimestamp() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System, TestContext.Current.CancellationToken);
        }

        Assert.Matches(@"\(still running after \d+ s\)", output.Output); // the first tick can come late on a busy machine
    }
}
