namespace Shadowing.Control;

/// <summary>Settings of <see cref="ControlApi"/>.</summary>
public sealed class ControlOptions
{
    /// <summary>The default of <see cref="WorkflowStatusTimeout"/>.</summary>
    public static readonly TimeSpan DefaultWorkflowStatusTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a service's status waits for each workflow instance's state before showing it as UNKNOWN, on the
    /// injected clock: an accelerated clock (the demo's) must scale it, or a few milliseconds of real time would do.
    /// </summary>
    public TimeSpan WorkflowStatusTimeout { get; set; } = DefaultWorkflowStatusTimeout;
}
