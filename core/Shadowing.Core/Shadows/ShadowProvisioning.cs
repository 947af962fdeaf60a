namespace Shadowing.Core.Shadows;

/// <summary>What a shadow is given: a size (what the provisioner maps to capacity, CPU or replicas) and optional faults.</summary>
/// <param name="Size">Relative size, 1 for the template's own; remediation raises it.</param>
/// <param name="AddedLatencyMs">Latency the shadow adds to every answer (fault injection); 0 for none.</param>
/// <param name="ErrorRate">Share of answers the shadow turns into 5xx (fault injection); 0 for none.</param>
public sealed record ShadowResources(int Size = 1, double AddedLatencyMs = 0, double ErrorRate = 0);

/// <summary>A shadow to run: which service it copies, its id in the routing table, and its resources.</summary>
public sealed record ProvisionSpec(string Service, string ShadowId, ShadowResources Resources);

/// <summary>A running shadow: where it answers, and how to find it again after a restart.</summary>
public sealed record ProvisionedShadow
{
    public required string Service { get; init; }

    public required string ShadowId { get; init; }

    /// <summary>The address for the routing table (<c>http://127.0.0.1:port</c>, <c>dapr://app-id</c>, …).</summary>
    public required string Address { get; init; }

    public required ShadowResources Resources { get; init; }

    /// <summary>The provisioner's handle (a process id, a container app revision …).</summary>
    public string? Handle { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>
    /// What the provisioner changed or left out of the copy and the operator should know, for example production data
    /// bindings it dropped rather than copy; shown in the workflow's status. A provisioner answering <c>"notes": null</c> (a Go nil
    /// slice, Python's None) gives none: the workflow reads the count.
    /// </summary>
    public IReadOnlyList<string> Notes { get; init => field = value ?? []; } = [];
}

/// <summary>
/// The provisioning port: creates, resizes and retires shadow endpoints. Every method is idempotent (workflow
/// activities run at least once): provisioning a shadow that runs returns it, retiring one that is gone succeeds.
/// </summary>
public interface IShadowProvisioner
{
    /// <summary>Starts the shadow, or returns it when it already runs; returns once it answers its health check.</summary>
    Task<ProvisionedShadow> ProvisionAsync(ProvisionSpec spec, CancellationToken cancellationToken = default);

    /// <summary>Gives a running shadow new resources (may restart it, keeping its address when it can).</summary>
    Task<ProvisionedShadow> ResizeAsync(ProvisionSpec spec, CancellationToken cancellationToken = default);

    /// <summary>Stops the shadow (gracefully where possible); succeeds when it is not running.</summary>
    Task RetireAsync(string service, string shadowId, CancellationToken cancellationToken = default);

    /// <summary>The shadow as it runs now, or null.</summary>
    Task<ProvisionedShadow?> FindAsync(string service, string shadowId, CancellationToken cancellationToken = default);

    /// <summary>Every shadow that runs now (what a restarted host reconciles against the workflows that own them).</summary>
    Task<IReadOnlyList<ProvisionedShadow>> ListAsync(CancellationToken cancellationToken = default);
}

/// <summary>Provisioning failed; the message says which shadow and why.</summary>
public sealed class ProvisioningException(string message, Exception? innerException = null) : Exception(message, innerException);
