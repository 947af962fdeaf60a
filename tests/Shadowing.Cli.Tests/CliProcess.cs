using Shadowing.TestUtilities.Data;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Cli.Tests;

/// <summary>Runs the CLI as a real process.</summary>
internal static class CliProcess
{
    private const string RouterLine = "Router listening on ";

    /// <summary>The path of the built CLI next to the tests.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "shadowing.dll");

    /// <summary>The repository root.</summary>
    public static string RepositoryRoot => RepositoryFiles.Root;

    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory) =>
        ChildProcess.Start(fileName, arguments, workingDirectory);

    /// <summary>Runs <c>shadowing</c> with <paramref name="arguments"/> until it exits; returns the exit code and output.</summary>
    public static async Task<(int Exit, string Output)> RunAsync(string workingDirectory, TimeSpan timeout, CancellationToken cancellationToken, params string[] arguments)
    {
        await using var process = Start("dotnet", [CliDll, .. arguments], workingDirectory);
        var exit = await process.WaitForExitAsync(timeout, cancellationToken);
        return (exit, process.Output);
    }

    /// <summary>Waits for <c>up</c>'s "Router listening on …" line and returns the address.</summary>
    public static async Task<Uri> RouterAddressAsync(this ChildProcess up, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var line = await up.WaitForLineAsync(l => l.StartsWith(RouterLine, StringComparison.Ordinal), timeout, cancellationToken);
        return new Uri(line[RouterLine.Length..].Trim());
    }

    public static int CountProcessesMentioning(string marker) => ChildProcess.CountProcessesMentioning(marker);
}
