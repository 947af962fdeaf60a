using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Shadowing.Router.Hosting;

namespace Shadowing.Router.Tests.Hosting;

public sealed class RouterOptionsTests
{
    [Fact]
    public void Defaults_AreValid()
    {
        Assert.Equal(TimeSpan.FromSeconds(5), Resolve([]).ActiveHealthChecks.Interval);
    }

    [Theory]
    [InlineData("Router:ActiveHealthChecks:Timeout", "00:00:10", "Router:ActiveHealthChecks:Timeout (00:00:10) must be shorter than Router:ActiveHealthChecks:Interval")]
    [InlineData("Router:ActiveHealthChecks:HealthyThreshold", "0", "Router:ActiveHealthChecks:HealthyThreshold:")]
    [InlineData("Router:ActiveHealthChecks:Path", "healthz", "Router:ActiveHealthChecks:Path:")]
    [InlineData("Router:LatencyEwmaAlpha", "2", "Router:LatencyEwmaAlpha:")]
    [InlineData("Router:OutlierDetection:BaseEjectionTime", "00:10:00", "Router:OutlierDetection:BaseEjectionTime (00:10:00) must not exceed")]
    [InlineData("Router:Mirroring:OutcomeRetention", "01:59:00", "Router:Mirroring:OutcomeRetention:")]
    [InlineData("Router:MetricsRetention", "1.23:59:00", "Router:MetricsRetention:")]
    [InlineData("Router:DaprInvocationOnly", "true", "Router:DaprInvocationOnly is true, but APP_API_TOKEN is not set")]
    [InlineData("Router:OutlierDetection:ConsecutiveFailure", "3", "Router:OutlierDetection:ConsecutiveFailure is not a setting of the router")]
    [InlineData("Router:HealthChecks:Active:Interval", "00:00:01", "Router:HealthChecks is not a setting of the router")]
    [InlineData("Router:Mirroring:Sender", "4", "Router:Mirroring:Sender is not a setting of the router")]
    public void Invalid_FailsNamingTheKey(string key, string value, string expected)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(new Dictionary<string, string?> { [key] = value }));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeysInAnyCase_AndSectionsOfTheRouter_AreSettings()
    {
        var options = Resolve(new Dictionary<string, string?>
        {
            ["router:outlierdetection:consecutivefailures"] = "7",
            ["Router:Alerts:WebhookUrl"] = "https://alerts.example/hook",
            ["Router:Limits:MaxUploadingShare"] = "0.25",
        });

        Assert.Equal(7, options.OutlierDetection.ConsecutiveFailures);
        Assert.Equal(0.25, options.Limits.MaxUploadingShare);
    }

    private static RouterOptions Resolve(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddShadowingRouter(builder.Configuration);
        using var provider = builder.Services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<RouterOptions>>().Value;
    }
}
