using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Xunit.v3;

namespace Shadowing.TestUtilities.Runner;

/// <summary>
/// Writes "still running after N s" to a test's output every second once it has run for a second; every test
/// project carries it (tests/Directory.Build.props).
/// </summary>
/// <remarks>
/// Why: under <c>dotnet test</c>, xunit v3 runs the tests in a child process and, once that process exits, waits for
/// its "assembly finished" message only until 5 s after the last message it read (xunit.v3.runner.common's
/// CrashDetectionSinkBase). When the last test ran silently for longer, as the 2-minute soak does, and the runner
/// noticed the exit before reading the final messages, it reported "Test process crashed with exit code 0" and dropped
/// that test's result: CI saw one fewer passing test and failed. A line a second keeps the last message read within a
/// second of the exit.
/// </remarks>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class StillRunningLinesAttribute : BeforeAfterTestAttribute
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(1);
    private static readonly ConcurrentDictionary<string, ITimer> Running = new();

    /// <inheritdoc />
    public override void Before(MethodInfo methodUnderTest, IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        if (TestContext.Current.TestOutputHelper is not { } output)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var timer = TimeProvider.System.CreateTimer(
            _ =>
            {
                try
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"(still running after {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s)"));
                }
                catch (InvalidOperationException)
                {
                    // The test ended between the tick and the write.
                }
            },
            null,
            Every,
            Every);
        if (Running.TryRemove(test.UniqueID, out var stale))
        {
            stale.Dispose();
        }

        Running[test.UniqueID] = timer;
    }

    /// <inheritdoc />
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        if (Running.TryRemove(test.UniqueID, out var timer))
        {
            timer.Dispose();
        }
    }
}
