using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Models;

namespace Shadowing.Forecasting.Pae;

/// <summary>The latest forecast of a service, stored at <c>forecast/{service}</c>.</summary>
public sealed record ForecastDocument
{
    /// <summary>The service.</summary>
    public required string Service { get; init; }

    /// <summary>When it was made.</summary>
    public required DateTimeOffset GeneratedAt { get; init; }

    /// <summary>Time of the last observed value it starts from.</summary>
    public required DateTimeOffset Origin { get; init; }

    /// <summary>Step of the points (demand is in requests per step).</summary>
    public required TimeSpan Step { get; init; }

    /// <summary>What forecasts most horizons (each horizon's is in <see cref="Selection"/>).</summary>
    public required ForecastMethod Method { get; init; }

    /// <summary>Per horizon, what forecasts it and each candidate's WAPE on held-out history that chose it.</summary>
    public string? Selection { get; init; }

    /// <summary>
    /// How the forecasts of earlier runs did against the actuals, per reported horizon (the first, middle and last):
    /// what was forecast (<c>forecast</c>) and each candidate, with recent WAPE, bias, bias at peaks and p90 coverage.
    /// </summary>
    public IReadOnlyList<HorizonScore>? Accountability { get; init; }

    /// <summary>Forecast steps.</summary>
    public required IReadOnlyList<ForecastPoint> Points { get; init; }

    /// <summary>Current failure risk in [0, 1].</summary>
    public double RiskScore { get; init; }

    /// <summary>Whether the risk alarm is raised.</summary>
    public bool RiskAlarm { get; init; }

    /// <summary>Requests per step production can serve; null when it could not be estimated (see <c>pae/{service}</c>).</summary>
    public double? ProductionCapacity { get; init; }

    /// <summary>Requests per step one endpoint can serve; null when it could not be estimated.</summary>
    public double? EndpointCapacity { get; init; }

    /// <summary>First forecast step that needs shadows, if any.</summary>
    public DateTimeOffset? ShadowsNeededFrom { get; init; }

    /// <summary>The shadow request made or updated by this run, if any.</summary>
    public string? ShadowRequestId { get; init; }
}
