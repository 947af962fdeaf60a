using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;
using Shadowing.Core.Metrics;
using Shadowing.Core.State;
using Shadowing.Metrics.Azure;
using Shadowing.Metrics.Csv;
using Shadowing.Metrics.Prometheus;
using Shadowing.Metrics.Router;

namespace Shadowing.Metrics;

/// <summary>Which metrics source the PAE reads (<c>Pae:Source</c>).</summary>
public enum MetricsSourceKind
{
    /// <summary>The router's per-minute records in the state store (default).</summary>
    Router,

    /// <summary>A Prometheus server.</summary>
    Prometheus,

    /// <summary>Azure Monitor platform metrics.</summary>
    AzureMonitor,

    /// <summary>A Log Analytics workspace.</summary>
    LogAnalytics,

    /// <summary>CSV files.</summary>
    Csv,
}

/// <summary>Composition of the metrics sources.</summary>
public static class MetricsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <see cref="IMetricsSource"/> named by <c>Pae:Source</c> (default Router), configured from
    /// <c>Pae:Prometheus</c>, <c>Pae:Azure</c> or <c>Pae:Csv</c>. Azure sources authenticate with
    /// <see cref="DefaultAzureCredential"/> (managed identity in Azure, developer sign-in locally).
    /// </summary>
    public static IServiceCollection AddShadowingMetrics(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        // Every source's settings are settings, whichever is chosen (see SettingsSpelling).
        services.AddSingleton(new SettingsSection("Pae:Source", typeof(MetricsSourceKind)));
        services.AddSingleton(new SettingsSection("Pae:Prometheus", typeof(PrometheusOptions)));
        services.AddSingleton(new SettingsSection("Pae:Azure", typeof(AzureMonitorOptions)));
        services.AddSingleton(new SettingsSection("Pae:Csv", typeof(CsvSourceOptions)));
        var text = configuration["Pae:Source"];
        if (!Enum.TryParse<MetricsSourceKind>(string.IsNullOrEmpty(text) ? nameof(MetricsSourceKind.Router) : text, ignoreCase: true, out var kind) || !Enum.IsDefined(kind))
        {
            // A setting's failure, as the hosts report any other (exit 2 naming it, not an unexpected error).
            throw new OptionsValidationException("Pae:Source", typeof(MetricsSourceKind), [$"Pae:Source is '{text}'; use Router, Prometheus, AzureMonitor, LogAnalytics or Csv."]);
        }

        switch (kind)
        {
            case MetricsSourceKind.Prometheus:
                var prometheus = configuration.GetSection("Pae:Prometheus").Get<PrometheusOptions>() ?? new PrometheusOptions();
                if (prometheus.BaseAddress is not { IsAbsoluteUri: true })
                {
                    // Checked here, not at the first run: every run would log "not set" per service at Information and count as a success.
                    throw new OptionsValidationException("Pae:Prometheus", typeof(PrometheusOptions), ["Pae:Prometheus:BaseAddress must be set to the Prometheus server's URL (for example http://prometheus:9090/) when Pae:Source is Prometheus."]);
                }

                services.AddHttpClient(nameof(PrometheusSource));
                services.TryAddSingleton<IMetricsSource>(sp => new PrometheusSource(sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(PrometheusSource)), prometheus));
                break;
            case MetricsSourceKind.AzureMonitor:
                services.TryAddSingleton<IMetricsSource>(_ => new AzureMonitorSource(configuration.GetSection("Pae:Azure").Get<AzureMonitorOptions>() ?? new AzureMonitorOptions(), new DefaultAzureCredential()));
                break;
            case MetricsSourceKind.LogAnalytics:
                if (string.IsNullOrWhiteSpace(configuration["Pae:Azure:Workspace"]))
                {
                    throw new OptionsValidationException("Pae:Azure", typeof(AzureMonitorOptions), ["Pae:Azure:Workspace must be set to the Log Analytics workspace id when Pae:Source is LogAnalytics."]);
                }

                services.TryAddSingleton<IMetricsSource>(_ => new LogAnalyticsSource(configuration.GetSection("Pae:Azure").Get<AzureMonitorOptions>() ?? new AzureMonitorOptions(), new DefaultAzureCredential()));
                break;
            case MetricsSourceKind.Csv:
                services.TryAddSingleton<IMetricsSource>(_ => new CsvSource(configuration.GetSection("Pae:Csv").Get<CsvSourceOptions>() ?? new CsvSourceOptions()));
                break;
            default:
                services.TryAddSingleton<IMetricsSource>(sp => new RouterRecordsSource(sp.GetRequiredService<IStateStore>(), sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetService<ILogger<RouterRecordsSource>>()));
                break;
        }

        return services;
    }
}
