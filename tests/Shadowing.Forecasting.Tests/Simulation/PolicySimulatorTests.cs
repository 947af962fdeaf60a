using Shadowing.Core.Messaging;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Simulation;

namespace Shadowing.Forecasting.Tests.Simulation;

/// <summary>
/// The policies on a trace whose answer is known: 8 days of 30-minute steps at 100 requests, with a daily spike to 300
/// from 18:00 to 20:00. One endpoint serves 75 (60 within the SLO at 80 %), production carries 120, and each evaluated
/// day has one spike needing 5 endpoints.
/// </summary>
public sealed class PolicySimulatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Definitions_AreTheSameForEveryPolicy_CapacityFromTheHistory()
    {
        var result = await RunAsync(DailySpikes(), [ScalingPolicy.Reactive, ScalingPolicy.Scheduled], capacity: null);

        // The default: the history's 90th percentile (100: spikes are 4 steps in 48) plus 10 % within the SLO at 80 %.
        Assert.Equal(100 * 1.1 / (2 * 0.8), result.CapacityPerEndpoint, 9);
        Assert.Equal(100 * 1.1 / 2, result.UsablePerEndpoint, 9);
        Assert.Equal(Start.AddDays(4), result.From);
        Assert.Equal(4, result.Spikes.Count);
        Assert.All(result.Spikes, s => Assert.Equal(18, s.Onset.Hour));
        Assert.All(result.Outcomes, o => Assert.Equal(4, o.Spikes));
    }

    [Fact]
    public async Task Reactive_IsLateByItsWindowAndTheColdStartAtEverySpike()
    {
        var reactive = (await RunAsync(DailySpikes(), [ScalingPolicy.Reactive])).Outcomes.Single();

        Assert.Equal(0, reactive.SpikesCoveredBeforeOnset);
        Assert.Equal(4 * 11, reactive.SloViolationMinutes); // it sees the spike a minute in, then 10 minutes of cold start
        Assert.Equal(4 * 3, reactive.ColdStarts); // three more endpoints each evening
    }

    [Fact]
    public async Task Scheduled_CoversARegularSpike_PredictiveHourlyIsLateByItsBufferShortOfTheColdStart()
    {
        var result = await RunAsync(DailySpikes(), [ScalingPolicy.Scheduled, ScalingPolicy.PredictiveHourly]);
        var scheduled = result.Outcomes[0];
        var predictive = result.Outcomes[1];

        Assert.Equal(4, scheduled.SpikesCoveredBeforeOnset);
        Assert.Equal(0, scheduled.SloViolationMinutes);
        Assert.Equal(0, predictive.SpikesCoveredBeforeOnset);
        Assert.Equal(4 * 5, predictive.SloViolationMinutes); // launched 5 min ahead, ready 10 min after launch
    }

    [Fact]
    public async Task Proactive_ThePaeRequestsShadowsBeforeEachSpike()
    {
        var proactive = (await RunAsync(DailySpikes(), [ScalingPolicy.Proactive])).Outcomes.Single();

        Assert.Equal(4, proactive.SpikesCoveredBeforeOnset);
        Assert.Equal(0, proactive.SloViolationMinutes);
        Assert.Equal(4 * 4, proactive.ColdStarts); // p90 330 with headroom over production's 120: four shadows of 60 each evening
        Assert.True(proactive.CapacityHours < 2 * 96 + (4 * 4 * 4), $"{proactive.CapacityHours} capacity-hours: shadows held beyond the evenings");
    }

    [Fact]
    public async Task Proactive_DecidesOnlyFromThePast_ALaterChangeDoesNotMoveEarlierCapacity()
    {
        var series = DailySpikes();
        var changed = series.Values.ToArray();
        for (var i = changed.Length - 48; i < changed.Length; i++)
        {
            changed[i] *= 3; // the last day
        }

        var before = (await RunAsync(series, [ScalingPolicy.Proactive])).Outcomes.Single().ReadyCapacity;
        var after = (await RunAsync(new RegularSeries(series.Start, series.Step, changed), [ScalingPolicy.Proactive])).Outcomes.Single().ReadyCapacity;

        // Steps before the last day, less the forecast horizon that could reach into it at the last runs before it... none:
        // a run sees only completed steps, so every step before the change is decided identically.
        Assert.Equal(before.Take(before.Count - 48), after.Take(after.Count - 48));
        Assert.NotEqual(before.Skip(before.Count - 48), after.Skip(after.Count - 48));
    }

    [Fact]
    public async Task TooShortATrace_IsRefusedSayingWhy()
    {
        var series = new RegularSeries(Start, TimeSpan.FromMinutes(30), new double[40]);

        var error = await Assert.ThrowsAsync<SimulationInputException>(() => RunAsync(series, [ScalingPolicy.Reactive]));

        Assert.Contains("at least two days", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SilentHistory_WithoutACapacity_IsRefusedSayingWhy()
    {
        var series = new RegularSeries(Start, TimeSpan.FromMinutes(30), [.. Enumerable.Range(0, 8 * 48).Select(i => i > 300 ? 5.0 : 0.0)]);

        var error = await Assert.ThrowsAsync<SimulationInputException>(() => RunAsync(series, [ScalingPolicy.Reactive], capacity: null));

        Assert.Contains("90th percentile of demand is 0", error.Message, StringComparison.Ordinal);
    }

    private static RegularSeries DailySpikes() =>
        new(Start, TimeSpan.FromMinutes(30), [.. Enumerable.Range(0, 8 * 48).Select(i => i % 48 is >= 36 and < 40 ? 300.0 : 100.0)]);

    private static async Task<SimulationResult> RunAsync(RegularSeries series, IReadOnlyList<ScalingPolicy> policies, double? capacity = 75)
    {
        var simulator = new PolicySimulator(new PaeOptions(), NoHolidays.Instance, new TestUtilities.State.InMemoryStateStore(), Substitute.For<IEventBus>(), TimeProvider.System);
        return await simulator.RunAsync(series, policies, new SimulationOptions { CapacityPerEndpoint = capacity }, cancellationToken: Ct);
    }
}
