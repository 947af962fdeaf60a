using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Diagnostics;

namespace Shadowing.Forecasting.Pae;

/// <summary>
/// The embedded host's stand-in for the <c>ForecastDemand</c> timer function: runs the PAE every
/// <see cref="PaeOptions.Interval"/> on the injected <see cref="TimeProvider"/> (so a demo can run a day in minutes), at
/// fixed times as a schedule does (<see cref="UntilNextRun"/>), not an interval after each run ended.
/// </summary>
public sealed partial class ForecastTimerService(DemandForecastService pae, IOptions<PaeOptions> options, TimeProvider time, ILogger<ForecastTimerService> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await BackgroundLoop.WaitAsync(UntilNextRun(options.Value, time.GetUtcNow()), time, stoppingToken).ConfigureAwait(false)
            && await BackgroundLoop.RunOnceAsync("pae", RunAsync, LogRunFailed, stoppingToken).ConfigureAwait(false))
        {
        }
    }

    /// <summary>
    /// How long until the next run: runs fall a settle time past each multiple of the interval on the UTC clock (every 5
    /// minutes at :01, :06 … by default, as the Functions sample's <c>0 1-59/5 * * * *</c>), so each reads the step that has
    /// just settled, and the planner's next decision is one interval away (a run that outlasts it skips to the next time).
    /// </summary>
    internal static TimeSpan UntilNextRun(PaeOptions options, DateTimeOffset now)
    {
        var into = (now - options.SettleTime).UtcTicks % options.Interval.Ticks;
        return TimeSpan.FromTicks(options.Interval.Ticks - into);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var outcomes = await pae.RunAsync(cancellationToken).ConfigureAwait(false);
        LogRun(outcomes.Count, outcomes.Count(o => o.Forecast is not null), outcomes.Count(o => o.Published));
    }

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "PAE run: {Services} service(s), {Forecast} forecast, {Requested} shadow request(s) published")]
    private partial void LogRun(int services, int forecast, int requested);

    [LoggerMessage(EventId = 71, Level = LogLevel.Error, Message = "PAE run failed; running again at the next interval")]
    private partial void LogRunFailed(Exception error);
}
