using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Shadowing.Core.Routing;

namespace Shadowing.Cli.Samples;

/// <summary>A sample endpoint running as a child process of <c>shadowing up</c>.</summary>
internal sealed class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;

    private SampleProcess(Process process, string service, SampleEndpointOptions options, EndpointRole role, Uri address)
    {
        _process = process;
        Role = role;
        Service = service;
        Options = options;
        Address = address;
    }

    public string Service { get; }

    public SampleEndpointOptions Options { get; }

    public EndpointRole Role { get; }

    public Uri Address { get; }

    /// <summary>This executable with <paramref name="arguments"/>: itself when it is an apphost, else <c>dotnet shadowing.dll</c>.</summary>
    public static (string Command, List<string> Arguments) SelfCommand(IEnumerable<string> arguments)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var all = arguments.ToList();
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            all.Insert(0, Assembly.GetEntryAssembly()!.Location);
        }

        return (host, all);
    }

    /// <summary>
    /// Starts <c>shadowing sample-endpoint</c> as a child (the same executable, or <c>dotnet shadowing.dll</c>)
    /// and waits until it prints where it listens.
    /// </summary>
    /// <exception cref="StartFailedException">It exited or did not get ready within <paramref name="timeout"/>.</exception>
    public static async Task<SampleProcess> StartAsync(string service, SampleEndpointOptions options, EndpointRole role, TimeSpan timeout, CancellationToken cancellationToken, string? dataState = null)
    {
        var arguments = new List<string>
        {
            "sample-endpoint",
            "--service", service,
            "--id", options.Id,
            "--port", options.Port.ToString(CultureInfo.InvariantCulture),
            "--capacity", options.Capacity.ToString(CultureInfo.InvariantCulture),
            "--latency-ms", options.LatencyMs.ToString(CultureInfo.InvariantCulture),
            "--error-rate", options.ErrorRate.ToString(CultureInfo.InvariantCulture),
            "--exit-with-parent",
        };
        if (dataState is not null)
        {
            arguments.AddRange(["--data-state", dataState]);
        }

        var (host, hostArguments) = SelfCommand(arguments);
        var start = new ProcessStartInfo(host, hostArguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new StartFailedException($"could not start sample endpoint '{options.Id}'.");
        try
        {
            using var ready = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            ready.CancelAfter(timeout);
            while (await process.StandardOutput.ReadLineAsync(ready.Token).ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith(SampleEndpointCommand.ReadyLine, StringComparison.Ordinal))
                {
                    var address = new Uri(line[SampleEndpointCommand.ReadyLine.Length..].Trim());
                    _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None); // keep the pipe drained
                    _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
                    return new SampleProcess(process, service, options, role, address);
                }
            }

            var error = await process.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            throw new StartFailedException($"sample endpoint '{options.Id}' (port {options.Port}) exited before listening: {error.Trim().Replace("Error: ", string.Empty, StringComparison.Ordinal)}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Kill(process);
            process.Dispose();
            throw new StartFailedException($"sample endpoint '{options.Id}' (port {options.Port}) did not start listening within {timeout}.");
        }
        catch
        {
            Kill(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Crashes the child (SIGKILL, no graceful shutdown: connections in flight are reset) and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        Kill(_process);
        await _process.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the child: closing its input lets it shut down cleanly; it is killed if it lingers.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(_process);
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }
}
