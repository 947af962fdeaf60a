using System.ComponentModel.DataAnnotations;

namespace Shadowing.Embedded.Workflows;

/// <summary>Settings of the embedded workflow backend (section <c>Shadowing:Embedded:Workflows</c>).</summary>
public sealed class EmbeddedWorkflowOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Embedded:Workflows";

    /// <summary>
    /// SQLite file of instances, history, timers and activity work items, or <c>:memory:</c>. Default: beside the
    /// embedded state file (in the folder of <c>Shadowing:Embedded:StatePath</c>: <c>workflows.db</c> beside the default
    /// <c>state.db</c>, <c>{name}.workflows.db</c> beside any other).
    /// </summary>
    public string? StatePath { get; set; }

    /// <summary>Loopback port of the durable-task service; 0 picks a free one. Default 0.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Activity work items dispatched and not yet completed, across all instances. Default 32.</summary>
    [Range(1, 1000)]
    public int MaxConcurrentActivities { get; set; } = 32;

    /// <summary>Workflow turns dispatched and not yet completed, across all instances (one per instance at most). Default 100.</summary>
    [Range(1, 1000)]
    public int MaxConcurrentTurns { get; set; } = 100;

    /// <summary>
    /// A work item a worker has not answered after this long is dispatched again (activities run at least once). Default
    /// 30 min: longer than an activity may legitimately run (the Container Apps provisioner waits up to 15 min by
    /// default), so a slow provision is not started twice while the first is still running.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Completed, failed and terminated instances are purged this long after they ended. Default 7 days.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often ended instances past <see cref="Retention"/> are purged. Default 1 h.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);
}
