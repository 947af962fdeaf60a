using System.Diagnostics.Metrics;

namespace Shadowing.Core.Diagnostics;

/// <summary>
/// One iteration of a background loop (the PAE timer, the minute recorder, health probes, table refreshes) run so
/// that nothing it throws can stop the host it shares with the router: any exception other than the host's own
/// shutdown is reported, counted on <c>shadowing_background_failures_total{loop}</c> (meter
/// <see cref="MeterName"/>), and the loop goes on at its next tick.
/// </summary>
public static class BackgroundLoop
{
    /// <summary>The meter of the failure counter; hosts export it with their other metrics.</summary>
    public const string MeterName = "Shadowing.Background";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>(
        "shadowing.background.failures",
        "{failure}",
        "Iterations of background loops that failed; each loop retries at its next tick.");

    /// <summary>
    /// Runs <paramref name="iteration"/>; returns false when <paramref name="stoppingToken"/> ended it (the loop
    /// should stop), true otherwise, including after a failure, which goes to <paramref name="onFailure"/>.
    /// </summary>
    public static async Task<bool> RunOnceAsync(string loop, Func<CancellationToken, Task> iteration, Action<Exception> onFailure, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(iteration);
        ArgumentNullException.ThrowIfNull(onFailure);
        try
        {
            await iteration(stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
#pragma warning disable CA1031 // The point of this method: nothing a tick throws may end the host.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Failures.Add(1, new KeyValuePair<string, object?>("loop", loop));
            onFailure(ex);
            return true;
        }
    }

    /// <summary>Waits <paramref name="delay"/> on <paramref name="time"/>; returns false when the host is stopping.</summary>
    public static async Task<bool> WaitAsync(TimeSpan delay, TimeProvider time, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
