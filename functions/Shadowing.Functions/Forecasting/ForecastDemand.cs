using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Shadowing.Forecasting.Pae;

namespace Shadowing.Functions.Forecasting;

/// <summary>
/// The PAE on a timer (the app setting <c>ForecastSchedule</c>, required; the sample runs it every 5 minutes): forecasts demand and failure risk for
/// every service, writes <c>forecast/{service}</c> and submits shadow requests.
/// </summary>
public sealed partial class ForecastDemand(DemandForecastService pae, ILogger<ForecastDemand> logger)
{
    [Function(nameof(ForecastDemand))]
    public async Task Run([TimerTrigger("%ForecastSchedule%")] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        if (timer.IsPastDue)
        {
            LogPastDue();
        }

        // The PAE logs, and stores at pae/{service}, why each service was or was not forecast.
        var outcomes = await pae.RunAsync(cancellationToken).ConfigureAwait(false);
        LogRan(outcomes.Count, outcomes.Count(o => o.Forecast is not null), outcomes.Count(o => o.Published));
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "ForecastDemand is running late (past due)")]
    private partial void LogPastDue();

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "ForecastDemand: {Services} service(s), {Forecast} forecast, {Published} shadow request(s) published")]
    private partial void LogRan(int services, int forecast, int published);
}
