using Microsoft.Extensions.Options;
using Shadowing.Core.Configuration;

namespace Shadowing.Router;

/// <summary>
/// Validates <see cref="RouterOptions"/> and its nested sections at start, naming the exact configuration key
/// to fix (for example <c>Router:ActiveHealthChecks:Timeout</c>).
/// </summary>
internal sealed class RouterOptionsValidator(IConfiguration configuration) : IValidateOptions<RouterOptions>
{
    public ValidateOptionsResult Validate(string? name, RouterOptions options)
    {
        var failures = new List<string>();
        // The router owns its section wherever it runs: a key there that binds to nothing is a mistake.
        SettingsSpelling.Check(
            configuration.AsEnumerable().Where(e => e.Value is not null).Select(e => e.Key),
            [RouterOptions.Section],
            [new SettingsSection(RouterOptions.Section, typeof(RouterOptions))],
            "the router",
            failures);
        OptionsChecks.Check(RouterOptions.Section, options, failures);
        OptionsChecks.Check($"{RouterOptions.Section}:{nameof(RouterOptions.ActiveHealthChecks)}", options.ActiveHealthChecks, failures);
        OptionsChecks.Check($"{RouterOptions.Section}:{nameof(RouterOptions.OutlierDetection)}", options.OutlierDetection, failures);
        OptionsChecks.Check($"{RouterOptions.Section}:{nameof(RouterOptions.Forwarding)}", options.Forwarding, failures);
        OptionsChecks.Check($"{RouterOptions.Section}:{nameof(RouterOptions.Limits)}", options.Limits, failures);
        OptionsChecks.Check($"{RouterOptions.Section}:{nameof(RouterOptions.Mirroring)}", options.Mirroring, failures);
        OptionsChecks.Check($"{RouterOptions.Section}:{nameof(RouterOptions.Alerts)}", options.Alerts, failures);
        if (options.Alerts?.WebhookUrl is { } url && (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https")))
        {
            failures.Add($"{RouterOptions.Section}:Alerts:WebhookUrl ({url}) must be an absolute http(s) URL.");
        }
        if (options.DaprInvocationOnly && Shadowing.Dapr.Messaging.DaprAppToken.Read(configuration) is null)
        {
            // Without daprd's token every caller that reaches the port looks like daprd: the setting would protect nothing.
            failures.Add($"{RouterOptions.Section}:DaprInvocationOnly is true, but {Shadowing.Dapr.Messaging.DaprAppToken.ConfigurationKey} is not set: set daprd's app token (dapr.io/app-token-secret, or the Container Apps Dapr settings) or leave DaprInvocationOnly false.");
        }

        if (options.ActiveHealthChecks is { } active && active.Timeout >= active.Interval)
        {
            failures.Add($"{RouterOptions.Section}:ActiveHealthChecks:Timeout ({active.Timeout}) must be shorter than {RouterOptions.Section}:ActiveHealthChecks:Interval ({active.Interval}).");
        }

        if (options.OutlierDetection is { } outlier && outlier.BaseEjectionTime > outlier.MaxEjectionTime)
        {
            failures.Add($"{RouterOptions.Section}:OutlierDetection:BaseEjectionTime ({outlier.BaseEjectionTime}) must not exceed {RouterOptions.Section}:OutlierDetection:MaxEjectionTime ({outlier.MaxEjectionTime}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
