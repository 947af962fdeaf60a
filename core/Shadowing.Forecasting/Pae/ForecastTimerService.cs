using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Shadowing.Forecasting.Pae;

/// <summary>
/// The embedded host's stand-in for the <c>ForecastDemand</c> timer function: runs the PAE every
/// <see cref="PaeOptions.Interval"/> on the injected <see cref="TimeProvider"/> (so a demo can run a day in minutes).
/// </summary>
public sealed partial class ForecastTimerService(DemandForecastService pae, IOptions<PaeOptions> options, TimeProvider time, ILogger<ForecastTimerService> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.Interval, time, stoppingToken).ConfigureAwait(false);
                var outcomes = await pae.RunAsync(stoppingToken).ConfigureAwait(false);
                LogRun(outcomes.Count, outcomes.Count(o => o.Forecast is not null), outcomes.Count(o => o.Published));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is Core.State.StateStoreException or Core.Messaging.EventBusException)
            {
                LogRunFailed(ex);
            }
        }
    }

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "PAE run: {Services} service(s), {Forecast} forecast, {Requested} shadow request(s) published")]
    private partial void LogRun(int services, int forecast, int requested);

    [LoggerMessage(EventId = 71, Level = LogLevel.Error, Message = "PAE run failed; retrying at the next interval")]
    private partial void LogRunFailed(Exception error);
}
