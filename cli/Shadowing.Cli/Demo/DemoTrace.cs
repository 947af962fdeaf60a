using Shadowing.Core.Configuration;
using Shadowing.Core.Randomness;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;

namespace Shadowing.Cli.Demo;

/// <summary>
/// The demand the demo plays: a rate per simulated minute for every 5-minute step from the start of the history the
/// PAE reads to the end of the live window, the capacity of one production endpoint, and the event calendar. The
/// <b>spike's onset</b> is the first live step whose demand exceeds what the two production endpoints serve: from then
/// on shadows must be ready. The same noise is in the history and the live load, so the PAE sees live what it learnt.
/// </summary>
internal sealed class DemoTrace
{
    /// <summary>Resolution of the trace (the PAE's default step).</summary>
    public static readonly TimeSpan Step = TimeSpan.FromMinutes(5);

    /// <summary>Production endpoints the demo runs.</summary>
    public const int ProductionEndpoints = 2;

    private readonly DateTimeOffset _from;
    private readonly double[] _perMinute;

    private DemoTrace(DateTimeOffset from, double[] perMinute, DateTimeOffset start, DateTimeOffset end, double endpointCapacity, IReadOnlyList<CalendarEvent> events, string description)
    {
        _from = from;
        _perMinute = perMinute;
        Start = start;
        End = end;
        EndpointCapacity = endpointCapacity;
        Events = events;
        Description = description;
        for (var t = start; t < end; t += Step)
        {
            if (RatePerMinute(t) > ProductionCapacity)
            {
                SpikeOnset = t;
                break;
            }
        }
    }

    /// <summary>Simulated time the live window starts (the history ends here).</summary>
    public DateTimeOffset Start { get; }

    /// <summary>Simulated time the live window ends.</summary>
    public DateTimeOffset End { get; }

    /// <summary>Requests per simulated minute one endpoint serves (<c>Pae:EndpointCapacity</c>).</summary>
    public double EndpointCapacity { get; }

    /// <summary>Requests per simulated minute production serves.</summary>
    public double ProductionCapacity => EndpointCapacity * ProductionEndpoints;

    /// <summary>The campaign calendar: past campaigns (in the history) and the announced one.</summary>
    public IReadOnlyList<CalendarEvent> Events { get; }

    /// <summary>First live step whose demand exceeds production capacity, or null if none does.</summary>
    public DateTimeOffset? SpikeOnset { get; }

    /// <summary>What the trace is, for the console.</summary>
    public string Description { get; }

    /// <summary>Requests per simulated minute at <paramref name="time"/> (constant within each 5-minute step; 0 outside the trace).</summary>
    public double RatePerMinute(DateTimeOffset time)
    {
        var index = (time - _from).Ticks / Step.Ticks;
        return time < _from || index >= _perMinute.Length ? 0 : _perMinute[index];
    }

    /// <summary>Requests in each 5-minute step of [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public IEnumerable<(DateTimeOffset Time, double Requests)> Steps(DateTimeOffset from, DateTimeOffset to)
    {
        for (var t = from; t < to; t += Step)
        {
            yield return (t, RatePerMinute(t) * Step.TotalMinutes);
        }
    }

    /// <summary>
    /// A synthetic day-shaped trace: 5 requests a minute on average, ±30 % over the day (peak at 15:00 UTC), 6 %
    /// noise per step, campaigns 2, 3, 5 and 6 days back in the history and an announced one (×2.5, actual ×2.6) from
    /// 13:00 to 16:00 on the live day, each ramping up and down over 15 minutes. The live window of
    /// <paramref name="duration"/> puts the campaign's start in its middle. One endpoint serves 6 requests a minute:
    /// production carries the daily peak with room to spare, not the campaign.
    /// </summary>
    public static DemoTrace Synthetic(TimeSpan duration, TimeSpan history, IRandomSource random)
    {
        var day = new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);
        var campaignStart = day.AddHours(13);
        var start = Floor(campaignStart - (duration / 2));
        var end = Floor(start + duration + Step - TimeSpan.FromTicks(1));
        var from = start - history;
        CalendarEvent[] events =
        [
            new(day.AddDays(-6).AddHours(10), day.AddDays(-6).AddHours(13), "autumn-sale", "campaign", 2.0),
            new(day.AddDays(-5).AddHours(15), day.AddDays(-5).AddHours(17), "newsletter", "campaign", 2.5),
            new(day.AddDays(-3).AddHours(12), day.AddDays(-3).AddHours(16), "flash-sale", "campaign", 3.0),
            new(day.AddDays(-2).AddHours(17), day.AddDays(-2).AddHours(20), "tv-spot", "campaign", 2.5),
            new(campaignStart, campaignStart.AddHours(3), "black-friday", "campaign", 2.5),
        ];

        // What each campaign really did: near what was announced, not exactly.
        double[] actual = [2.1, 2.4, 3.1, 2.4, 2.6];
        var ramp = TimeSpan.FromMinutes(15);
        var rates = new double[(int)((end - from).Ticks / Step.Ticks)];
        for (var i = 0; i < rates.Length; i++)
        {
            var t = from + (Step * i) + (Step / 2);
            var daily = 1 + (0.3 * Math.Cos(2 * Math.PI * (t.TimeOfDay.TotalHours - 15) / 24));
            var multiplier = 1.0;
            for (var e = 0; e < events.Length; e++)
            {
                var (s, f) = (events[e].Start, events[e].End);
                var weight = t < s || t >= f ? 0 : Math.Min(1, Math.Min((t - s) / ramp, (f - t) / ramp));
                multiplier = Math.Max(multiplier, 1 + ((actual[e] - 1) * weight));
            }

            rates[i] = 5 * daily * multiplier * Noise(random);
        }

        return new DemoTrace(from, rates, start, end, endpointCapacity: 6, events, "synthetic day with an announced campaign (black-friday, 13:00–16:00, ×2.5)");
    }

    /// <summary>
    /// A recorded trace: its last <paramref name="duration"/> is played live, what comes before is the history. Values
    /// are scaled so the live window's highest step asks for 17 requests a minute (the synthetic campaign's peak), and
    /// one endpoint serves half of the history's 95th percentile plus 15 %, so production carries what was usual
    /// before and the live window's peaks above that are the spike.
    /// </summary>
    /// <exception cref="UsageException">The trace is too short for the history and the window.</exception>
    public static DemoTrace FromSeries(RegularSeries series, TimeSpan duration, TimeSpan history, string name)
    {
        var end = series.TimeAt(series.Count - 1) + series.Step;
        var start = Floor(end - duration);
        var from = start - history;
        if (start - series.Start < TimeSpan.FromDays(1))
        {
            throw new UsageException($"--trace: '{name}' covers {Durations.Describe(end - series.Start)}; the demo needs the window (--duration {Durations.Describe(duration)}) and at least a day of history before it.");
        }

        from = from < series.Start ? Floor(series.Start + Step) : from;

        // Each 5-minute step takes the mean of the trace's values in it (or the one it falls in, for a coarser trace).
        var values = Enumerable.Range(0, (int)((end - from).Ticks / Step.Ticks))
            .Select(i => from + (Step * i))
            .Select(t => Enumerable.Range(series.IndexAtOrBefore(t), 1 + series.IndexAtOrBefore(t + Step - TimeSpan.FromTicks(1)) - series.IndexAtOrBefore(t)).Average(j => series.Values[j]))
            .Select(v => Math.Max(0, v / series.Step.TotalMinutes))
            .ToArray();
        var live = values.Skip((int)((start - from).Ticks / Step.Ticks)).ToArray();
        var scale = live.Max() is > 0 and var peak ? 17 / peak : 1;
        for (var i = 0; i < values.Length; i++)
        {
            values[i] *= scale;
        }

        var usual = values.Take(values.Length - live.Length).Order().ToArray();
        var p95 = usual[(int)(0.95 * (usual.Length - 1))];
        return new DemoTrace(from, values, start, end, endpointCapacity: Math.Max(0.5, p95 * 1.15 / ProductionEndpoints), [], $"{name}, its last {Durations.Describe(duration)} played live");
    }

    private static DateTimeOffset Floor(DateTimeOffset time) => TimeGrid.Floor(time, Step);

    /// <summary>Multiplicative noise, normal with 6 % spread (Box-Muller), never below 0.5.</summary>
    private static double Noise(IRandomSource random)
    {
        var u = 1 - random.NextDouble();
        var v = random.NextDouble();
        return Math.Max(0.5, 1 + (0.06 * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v)));
    }
}
