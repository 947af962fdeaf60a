using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.Routing;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Planning;

namespace Shadowing.Forecasting;

/// <summary>Composition of the PAE.</summary>
public static class PaeServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="DemandForecastService"/> and what it needs, bound to <see cref="PaeOptions.Section"/>.
    /// An <c>IMetricsSource</c>, <c>IStateStore</c> and <c>IEventBus</c> must be registered too.
    /// </summary>
    public static IServiceCollection AddShadowingPae(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        var section = configuration.GetSection(PaeOptions.Section);
        services.AddOptions<PaeOptions>().Bind(section)
            .Configure(o =>
            {
                // The binder appends configured list items to the default five: a configured list replaces them, and an empty
                // value (Pae__RiskMetrics=) scores none.
                var metrics = section.GetSection(nameof(PaeOptions.RiskMetrics));
                if (metrics.GetChildren().Any())
                {
                    o.RiskMetrics = metrics.Get<List<Core.Metrics.MetricKind>>() ?? [];
                }
                else if (metrics.Value is { Length: 0 })
                {
                    o.RiskMetrics = [];
                }
            })
            .ValidateOnStart();
        services.AddSingleton(new SettingsSection(PaeOptions.Section, typeof(PaeOptions)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PaeOptions>, PaeOptionsValidator>());
        services.TryAddSingleton<IHolidayCalendar>(sp => sp.GetRequiredService<IOptions<PaeOptions>>().Value.HolidayCalendar());
        services.TryAddSingleton<RoutingTableStore>();
        services.TryAddSingleton<ShadowRequestStore>();
        services.TryAddSingleton<PaeMetrics>();
        services.TryAddSingleton<DemandForecastService>();
        return services;
    }

    /// <summary>
    /// Also runs the PAE on a hosted timer (the embedded host; the Functions app has its timer trigger). Such a host
    /// also routes traffic, so training is limited to <see cref="PaeOptions.TrainingCoreShare"/> of the cores
    /// unless <c>Pae:Forecaster:Threads</c> says otherwise.
    /// </summary>
    public static IServiceCollection AddShadowingPaeTimer(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddShadowingPae(configuration);
        services.PostConfigure<PaeOptions>(o => o.Forecaster.Threads = o.TrainingThreads(Environment.ProcessorCount));
        services.AddHostedService<ForecastTimerService>();
        return services;
    }
}
