using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Shadowing.TestUtilities.Data;

namespace Shadowing.Cli.Tests;

/// <summary>Runs the CLI (or any command) as a real process and watches its output.</summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource<string> _routerLine = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Seen(e.Data);
        process.ErrorDataReceived += (_, e) => Seen(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output => string.Join(Environment.NewLine, _output);

    /// <summary>The path of the built CLI next to the tests.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "shadowing.dll");

    /// <summary>The repository root.</summary>
    public static string RepositoryRoot => RepositoryFiles.Root;

    public static CliProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        return new CliProcess(Process.Start(start)!);
    }

    /// <summary>Waits for the "Router listening on …" line and returns the address.</summary>
    public async Task<Uri> RouterAddressAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return new Uri(await _routerLine.Task.WaitAsync(timeout, cancellationToken));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No router line within {timeout}. Output so far:{Environment.NewLine}{Output}");
        }
    }

    /// <summary>Sends SIGINT (what Ctrl+C sends) and waits for the exit code.</summary>
    public async Task<int> InterruptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using (var kill = Process.Start("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync(cancellationToken);
        }

        await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>Processes whose command line mentions <paramref name="marker"/> (Linux /proc).</summary>
    public static int CountProcessesMentioning(string marker) =>
        Directory.EnumerateDirectories("/proc")
            .Where(d => int.TryParse(Path.GetFileName(d), out _))
            .Count(d =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(d, "cmdline")).Contains(marker, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            });

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Seen(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        const string prefix = "Router listening on ";
        if (line.StartsWith(prefix, StringComparison.Ordinal))
        {
            _routerLine.TrySetResult(line[prefix.Length..].Trim());
        }
    }
}
