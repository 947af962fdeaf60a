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

    /// <summary>The shift <see cref="Mode"/> asks for: <see cref="Shift"/> when time-shifted, else none.</summary>
    public TimeSpan EffectiveShift => Mode == DataSyncMode.TimeShifted ? Shift : TimeSpan.Zero;
}
