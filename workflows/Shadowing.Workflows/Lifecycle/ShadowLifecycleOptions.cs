using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>How the shadow lifecycle workflow warms, judges, remediates and drains (section <c>Shadowing:Sep</c>).</summary>
public sealed class ShadowLifecycleOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Sep";

    /// <summary>The lifecycle behaviour this build starts new instances with (see <see cref="LifecycleVersion"/>).</summary>
    public const int CurrentLifecycleVersion = 7;

    /// <summary>
    /// The lifecycle behaviour an instance runs, stamped by <c>ReadLifecycleOptionsActivity</c> into the instance's history
    /// (not a setting). An instance recorded before version 2 (0 here: the field did not exist) replays as it was
    /// recorded after an upgrade: its hold loop remediates one shadow at a time. From 2 each remediation runs beside the
    /// hold loop; a history of the old behaviour replayed with the new would schedule its steps in another order. From 3
    /// a window further ahead than <see cref="PrepareAhead"/> waits before its shadows are prepared. From 4 a resize stops
    /// restarting held shadows once a release or the window's end has come (the rest drain), and a shadow that fails its
    /// judgement as they come is retired without a remediation's restart first; a preparation that fails for good stops the
    /// others being prepared beside it at their next step. From 5 a verdict on a shadow already ready is taken while the
    /// others are still being prepared, and a Fail remediated then, not once every preparation has ended. From 6 a
    /// warm-up whose settled count (outcomes up to the policy timeout + 3 s ago) has not yet covered one check interval,
    /// or the <see cref="WarmupTime"/> if shorter, goes on until it has. From 7 a release or the window's end that comes while
    /// shadows are still being prepared (a provisioning call can take many minutes) drains the shadows already ready at once,
    /// not once every preparation has ended.
    /// </summary>
    [JsonInclude]
    public int LifecycleVersion { get; internal set; }

    /// <summary>
    /// How long before its window starts an operator's request (one no forecast merged into) has its shadows prepared
    /// (provisioned, warmed up, validated). A window further ahead (a request for next week) waits until then with
    /// nothing running: its shadows would otherwise run from the moment it was admitted. The PAE's requests are prepared
    /// at once: it asks its lead time ahead, which may be longer. Default 30 min.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan PrepareAhead { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Longest warm-up before a shadow is judged. Default 10 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan WarmupTime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Mirrored answers after which warm-up ends early. Default 500.</summary>
    [Range(1, 1_000_000)]
    public int WarmupSamples { get; set; } = 500;

    /// <summary>How often warm-up counts the mirrored answers. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan WarmupCheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Warm-ups in a row that may end Inconclusive before the shadow counts as failed. Default 3.</summary>
    [Range(1, 100)]
    public int MaxWarmups { get; set; } = 3;

    /// <summary>
    /// When warm-up's mirrored answers come too slowly to reach <see cref="WarmupSamples"/> in <see cref="WarmupTime"/>,
    /// replay them amplified (the mirror policy's pub/sub transport, paced to what the target needs). Default true.
    /// </summary>
    public bool AmplifyThinTraffic { get; set; } = true;

    /// <summary>Remediations (restart with one size more) after a failed verdict before the shadow is retired. Default 2.</summary>
    [Range(0, 20)]
    public int MaxRemediations { get; set; } = 2;

    /// <summary>Time a draining shadow keeps answering what it was sent before it is stopped. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan DrainTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Share of the service's requests mirrored while its shadows warm up, in percent (raised, never lowered). Default 10.</summary>
    [Range(0.01, 100)]
    public double MirrorPercent { get; set; } = 10;

    /// <summary>The size new shadows start with (the provisioner's unit). Default 1.</summary>
    [Range(1, 1000)]
    public int InitialSize { get; set; } = 1;

    /// <summary>
    /// Production data changes stay in the change feed this long (the maintenance tick prunes older ones); a shadow whose copy
    /// is further behind seeds again, and a time-shifted copy needs the log from the start. Default 7 days.
    /// </summary>
    [Range(typeof(TimeSpan), "01:00:00", "365.00:00:00")]
    public TimeSpan DataChangeRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Retired shadows stay in the routing table this long, for operators to see. Default 1 day.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan KeepRetired { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often PreWarmed and Active shadows are judged again (the embedded host's timer). Default 1 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RevalidationInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The window each revalidation judges. Default 10 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RevalidationWindow { get; set; } = TimeSpan.FromMinutes(10);
}
