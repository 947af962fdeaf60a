using System.ComponentModel.DataAnnotations;

namespace Shadowing.Core.Data;

/// <summary>How a shadow gets data of its own.</summary>
public enum DataSyncMode
{
    /// <summary>No sync: the shadow runs on whatever data its command gives it, and gets no mirrored writes.</summary>
    None,

    /// <summary>A differential copy of production's data, kept current from the change feed.</summary>
    Differential,

    /// <summary>Like differential, applying only changes older than <see cref="ShadowDataOptions.Shift"/>.</summary>
    TimeShifted,

    /// <summary>Records generated from a sample of production (<see cref="Synthetic.DataProfile"/>); no real value is copied.</summary>
    Synthetic,
}

/// <summary>The data settings of one service's shadows (section <c>Shadowing:Sep:Data:{service}</c>).</summary>
public sealed class ShadowDataOptions
{
    /// <summary>The configuration section; a service's settings are below it under its name.</summary>
    public const string Section = "Shadowing:Sep:Data";

    /// <summary>How the shadows get their data. Default <see cref="DataSyncMode.None"/>.</summary>
    public DataSyncMode Mode { get; set; } = DataSyncMode.None;

    /// <summary>How far a time-shifted copy trails production. Default 1 h.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan Shift { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Whether real values copied into the shadow are masked: personal data found by name or pattern, and the fields in
    /// <see cref="MaskFields"/>, replaced by synthetic values. Default true. Masked copies seed by copying (their values
    /// differ from production's by design, so hashes cannot be compared); changes after that are still differential.
    /// </summary>
    public bool Mask { get; set; } = true;

    /// <summary>Fields always masked (and, in synthetic mode, never sampled), besides those detected.</summary>
    public IList<string> MaskFields { get; } = [];

    /// <summary>Production records sampled to learn the synthetic profile. Default 1,000.</summary>
    [Range(1, 1_000_000)]
    public int SampleSize { get; set; } = 1000;

    /// <summary>Synthetic records generated; default (null) as many as production has.</summary>
    [Range(0, 10_000_000)]
    public int? SyntheticRecords { get; set; }

    /// <summary>Seed of the synthetic records and of masked replacements, so reruns give the same data. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>The shift <see cref="Mode"/> asks for: <see cref="Shift"/> when time-shifted, else none.</summary>
    public TimeSpan EffectiveShift => Mode == DataSyncMode.TimeShifted ? Shift : TimeSpan.Zero;
}

/// <summary>What data sync did for a shadow, at <c>sep/sync/{service}/{shadow}</c> (the status API shows it).</summary>
/// <param name="Mode">none, differential, time-shifted, or deleted once the shadow retired.</param>
/// <param name="Note">What happened, with the numbers.</param>
/// <param name="At">When (while the sync fails, when it last succeeded).</param>
/// <param name="LagSeconds">How far the copy trailed production after the run (null without a copy).</param>
/// <param name="FailingSince">When the sync began failing (its note says why); null while it succeeds.</param>
public sealed record ShadowSyncRecord(string Mode, string Note, DateTimeOffset At, double? LagSeconds = null, DateTimeOffset? FailingSince = null)
{
    /// <summary>
    /// How far behind production the copy is at <paramref name="now"/> by its <paramref name="mark"/>: while the sync fails,
    /// counted from its last success (it may be missing anything written since).
    /// </summary>
    public TimeSpan LagAt(SyncWatermark? mark, DateTimeOffset now)
    {
        var lag = mark?.LagAt(now) ?? TimeSpan.Zero;
        return FailingSince is not null && now - At > lag ? now - At : lag;
    }
}
