namespace Shadowing.Core.TimeSeries;

/// <summary>
/// A regular time series: one value every <see cref="Step"/> from <see cref="Start"/>. Values that were not
/// observed (gaps filled while resampling) are flagged in <see cref="Imputed"/>.
/// </summary>
public sealed class RegularSeries
{
    private readonly double[] _values;
    private readonly bool[] _imputed;

    /// <summary>Creates a series; <paramref name="imputed"/> defaults to all observed.</summary>
    public RegularSeries(DateTimeOffset start, TimeSpan step, double[] values, bool[]? imputed = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero);
        if (imputed is not null && imputed.Length != values.Length)
        {
            throw new ArgumentException("The imputed flags must match the values one to one.", nameof(imputed));
        }

        Start = start;
        Step = step;
        _values = values;
        _imputed = imputed ?? new bool[values.Length];
    }

    /// <summary>Time of the first value.</summary>
    public DateTimeOffset Start { get; }

    /// <summary>Time between values.</summary>
    public TimeSpan Step { get; }

    /// <summary>The values.</summary>
    public IReadOnlyList<double> Values => _values;

    /// <summary>Whether each value was filled in rather than observed.</summary>
    public IReadOnlyList<bool> Imputed => _imputed;

    /// <summary>Number of values.</summary>
    public int Count => _values.Length;

    /// <summary>Time of value <paramref name="index"/>.</summary>
    public DateTimeOffset TimeAt(int index) => Start + (Step * index);

    /// <summary>How many steps make up <paramref name="period"/>, or 0 when it is not a whole number of steps.</summary>
    public int StepsIn(TimeSpan period) => period.Ticks % Step.Ticks == 0 ? (int)(period.Ticks / Step.Ticks) : 0;

    /// <summary>The index of the value at or before <paramref name="time"/> (clamped to the series).</summary>
    public int IndexAtOrBefore(DateTimeOffset time) =>
        (int)Math.Clamp(Math.Floor((time - Start).Ticks / (double)Step.Ticks), 0, Math.Max(0, Count - 1));

    /// <summary>Direct access for algorithms that read many values.</summary>
    public ReadOnlySpan<double> Span => _values;

    /// <summary>The first <paramref name="count"/> values as a new series (for training on the past only).</summary>
    public RegularSeries Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        count = Math.Min(count, Count);
        return new RegularSeries(Start, Step, _values[..count], _imputed[..count]);
    }
}
