using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;

namespace Shadowing.Forecasting.Pae;

/// <summary>Validates <see cref="PaeOptions"/> and its nested sections at start, naming the configuration key to fix.</summary>
internal sealed class PaeOptionsValidator : IValidateOptions<PaeOptions>
{
    public ValidateOptionsResult Validate(string? name, PaeOptions options)
    {
        var failures = new List<string>();
        OptionsChecks.Check(PaeOptions.Section, options, failures);
        OptionsChecks.Check($"{PaeOptions.Section}:{nameof(PaeOptions.Forecaster)}", options.Forecaster, failures);
        OptionsChecks.Check($"{PaeOptions.Section}:{nameof(PaeOptions.Risk)}", options.Risk, failures);
        OptionsChecks.Check($"{PaeOptions.Section}:{nameof(PaeOptions.Planner)}", options.Planner, failures);
        if (options.Step > TimeSpan.Zero && TimeSpan.TicksPerDay % options.Step.Ticks != 0)
        {
            // The daily and weekly seasonality (features and seasonal baselines) count whole steps per day.
            failures.Add($"{PaeOptions.Section}:Step ({options.Step}) must divide a day, for example 00:05:00, 00:10:00, 00:15:00 or 01:00:00.");
        }

        if (options.Step > TimeSpan.Zero && options.History.Ticks % options.Step.Ticks != 0)
        {
            // History ends on a step; starting between two, every source would group it into steps that end short of the
            // run's end, and the last, partial one would look like a drop in demand.
            failures.Add($"{PaeOptions.Section}:History ({options.History}) must be a whole number of {PaeOptions.Section}:Step ({options.Step}).");
        }

        if (options.SettleTime >= options.Step)
        {
            failures.Add($"{PaeOptions.Section}:SettleTime ({options.SettleTime}) must be shorter than {PaeOptions.Section}:Step ({options.Step}).");
        }

        if (options.Horizon < options.Planner.LeadTime)
        {
            // Shadows take LeadTime to be ready: a need the forecast sees only closer than that is always too late for them.
            failures.Add($"{PaeOptions.Section}:Horizon ({options.Horizon}) must be at least {PaeOptions.Section}:Planner:LeadTime ({options.Planner.LeadTime}): every need it forecast would come too late to prepare shadows for.");
        }

        if (options.Planner.MinHistory > options.History)
        {
            // A run reads History at most: the planner would never have the history it waits for.
            failures.Add($"{PaeOptions.Section}:Planner:MinHistory ({options.Planner.MinHistory}) must not be longer than {PaeOptions.Section}:History ({options.History}): no demand decision could ever be made.");
        }

        if (options.Horizon < options.Step)
        {
            failures.Add($"{PaeOptions.Section}:Horizon ({options.Horizon}) must be at least {PaeOptions.Section}:Step ({options.Step}).");
        }
        else if (options.Step > TimeSpan.Zero && options.Horizon.Ticks / options.Step.Ticks > PaeOptions.MaxHorizonSteps)
        {
            // The forecasts waiting to be scored grow with the square of the steps: past this they outgrow one state value.
            failures.Add($"{PaeOptions.Section}:Horizon ({options.Horizon}) spans {options.Horizon.Ticks / options.Step.Ticks} steps of {PaeOptions.Section}:Step ({options.Step}); at most {PaeOptions.MaxHorizonSteps} (the forecasts waiting to be scored would no longer fit in one state value): shorten it, or lengthen Step.");
        }

        if (options.HolidayCountry is { Length: > 0 } country && Calendar.PublicHolidayCalendar.Problem(country) is { } holidays)
        {
            failures.Add($"{PaeOptions.Section}:HolidayCountry: {holidays}");
        }

        if (!string.IsNullOrWhiteSpace(options.TimeZone) && Calendar.TimeZones.Find(options.TimeZone, out var zoneProblem) is null)
        {
            failures.Add($"{PaeOptions.Section}:TimeZone: {zoneProblem}");
        }

        foreach (var (service, capacity) in options.EndpointCapacity.Where(c => !(c.Value > 0)))
        {
            failures.Add($"{PaeOptions.Section}:EndpointCapacity:{service} must be a positive number of requests per minute, was {capacity}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
