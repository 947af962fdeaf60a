using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Shadowing.TestUtilities.Hosting;

/// <summary>A program run as a real process (the CLI, the router), with its output captured line by line.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly Lock _waitersLock = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Seen)> _waiters = [];

    // The test that started the process, if any: its output carries the process's lines as they come, so a failed
    // assertion in CI shows what the process said (a passing test's output is not printed).
    private readonly ITestOutputHelper? _testOutput = TestContext.Current.TestOutputHelper;

    private readonly int _pid;

    private ChildProcess(Process process)
    {
        _process = process;
        _pid = process.Id;
        process.OutputDataReceived += (_, e) => Seen(e.Data);
        process.ErrorDataReceived += (_, e) => Seen(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>Standard output and error so far, interleaved as read.</summary>
    public string Output => string.Join(Environment.NewLine, _output);

    /// <summary>Starts <paramref name="fileName"/> in <paramref name="workingDirectory"/>, with extra environment variables.</summary>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return new ChildProcess(Process.Start(start)!);
    }

    /// <summary>Waits for the first output line matching <paramref name="match"/> (including lines already seen) and returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waitersLock)
        {
            if (_output.FirstOrDefault(match) is { } already)
            {
                return already;
            }

            _waiters.Add((match, seen));
        }

        try
        {
            return await seen.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No matching line within {timeout}. Output so far:{Environment.NewLine}{Output}");
        }
    }

    /// <summary>Sends SIGINT (what Ctrl+C sends) and waits for the exit code.</summary>
    public async Task<int> InterruptAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using (var kill = Process.Start("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The process did not exit within {timeout} of SIGINT. Output so far:{Environment.NewLine}{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>Sends SIGKILL to the process alone (not its children), as when its host dies, and waits until it is gone.</summary>
    public async Task KillAsync(CancellationToken cancellationToken)
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The process did not exit within {timeout}. Output so far:{Environment.NewLine}{Output}");
        }

        _process.WaitForExit(); // drains the asynchronous output readers
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

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
    }

    private void Seen(string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            _testOutput?.WriteLine($"[{_pid}] {line}");
        }
        catch (InvalidOperationException)
        {
            // the test has ended; the line is still kept below
        }

        lock (_waitersLock)
        {
            _output.Enqueue(line);
            foreach (var waiter in _waiters.Where(w => w.Match(line)).ToArray())
            {
                waiter.Seen.TrySetResult(line);
                _waiters.Remove(waiter);
            }
        }
    }
}
