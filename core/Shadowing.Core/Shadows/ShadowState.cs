namespace Shadowing.Core.Shadows;

/// <summary>Where a shadow endpoint is in its lifecycle. Legal moves are defined by <see cref="ShadowLifecycle"/>.</summary>
public enum ShadowState
{
    /// <summary>Resources are being created.</summary>
    Provisioning,

    /// <summary>Data is being copied from production.</summary>
    Syncing,

    /// <summary>Receiving mirrored traffic to warm caches and JIT.</summary>
    WarmingUp,

    /// <summary>Being compared against the production baseline.</summary>
    Validating,

    /// <summary>Validated and ready: the router may send it traffic when production fails or saturates.</summary>
    PreWarmed,

    /// <summary>Serving shifted production traffic.</summary>
    Active,

    /// <summary>No longer chosen for new traffic; finishing what it has.</summary>
    Draining,

    /// <summary>Torn down. Terminal.</summary>
    Retired,

    /// <summary>Something went wrong; remediation may restart it or retire it.</summary>
    Failed,
}
