using Shadowing.Dapr;
using Shadowing.Embedded;

namespace Shadowing.Router.Hosting;

/// <summary>Which adapters back the state store and event bus (<c>Shadowing:Mode</c>).</summary>
public enum ShadowingMode
{
    /// <summary>Dapr when a sidecar is configured (<c>DAPR_GRPC_PORT</c> or <c>DAPR_GRPC_ENDPOINT</c> set), else embedded.</summary>
    Auto,

    /// <summary>SQLite state store and in-process pub/sub.</summary>
    Embedded,

    /// <summary>Dapr state store and pub/sub through the sidecar.</summary>
    Dapr,
}

/// <summary>Chooses and registers the adapters.</summary>
public static class ShadowingModeExtensions
{
    /// <summary>The configuration key.</summary>
    public const string Key = "Shadowing:Mode";

    /// <summary>Resolves <see cref="ShadowingMode.Auto"/> against the environment.</summary>
    /// <exception cref="InvalidOperationException">The configured value is not a mode.</exception>
    public static ShadowingMode Resolve(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[Key];
        if (!Enum.TryParse<ShadowingMode>(string.IsNullOrEmpty(text) ? nameof(ShadowingMode.Auto) : text, ignoreCase: true, out var mode) || !Enum.IsDefined(mode))
        {
            throw new InvalidOperationException($"{Key} is '{text}'; use Auto, Embedded or Dapr.");
        }

        if (mode != ShadowingMode.Auto)
        {
            return mode;
        }

        return string.IsNullOrEmpty(configuration["DAPR_GRPC_PORT"]) && string.IsNullOrEmpty(configuration["DAPR_GRPC_ENDPOINT"])
            ? ShadowingMode.Embedded
            : ShadowingMode.Dapr;
    }

    /// <summary>Registers the Dapr or embedded adapters as <see cref="Resolve"/> says.</summary>
    public static ShadowingMode AddShadowingAdapters(this IServiceCollection services, IConfiguration configuration)
    {
        var mode = Resolve(configuration);
        if (mode == ShadowingMode.Dapr)
        {
            services.AddShadowingDapr();
        }
        else
        {
            services.AddShadowingEmbedded();
        }

        return mode;
    }
}
