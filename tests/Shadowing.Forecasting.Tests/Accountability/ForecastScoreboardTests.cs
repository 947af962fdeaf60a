using System.Text.Json;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Models;

namespace Shadowing.Forecasting.Tests.Accountability;

public sealed class ForecastScoreboardTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);

    /// <summary>Trained to prefer the model; the model is 50 % high at every target, the last value exact.</summary>
    private static readonly HorizonChoice TrainedModel = new(1, ForecastMethod.Model, 0, new Dictionary<ForecastMethod, double> { [ForecastMethod.Model] = 0.1, [ForecastMethod.LastValue] = 0.2 });

    [Fact]
    public void Choose_TrainingChoiceStandsUntilEnoughScored_ThenTheLowestRecentWapeWins()
    {
        var series = Flat(100, 40);
        var board = new ForecastScoreboard(Step, halfLifeSteps: 288, minScored: 5);
        var methods = new List<ForecastMethod>();
        for (var origin = 0; origin < 20; origin++)
        {
            board.Resolve(series, origin);
            methods.Add(board.Choose(Candidates(series, origin, model: 150, lastValue: 100), TrainedModel).Method);
        }

        // Origin 0's forecast is scored at origin 1, so the fifth score arrives at origin 5 and decides from there.
        Assert.All(methods.Take(5), m => Assert.Equal(ForecastMethod.Model, m));
        Assert.All(methods.Skip(5), m => Assert.Equal(ForecastMethod.LastValue, m));
        Assert.Equal(0.5, board.Score(1, ForecastMethod.Model)!.Wape, 6);
        Assert.Equal(0, board.Score(1, ForecastMethod.LastValue)!.Wape, 6);
        Assert.Equal(-50, board.Score(1, ForecastMethod.Model)!.Bias, 6);
    }

    [Fact]
    public void Choose_TargetInAnEvent_TheModelForecasts_EvenWhenABaselineHasTheLowerRecentWape()
    {
        var series = Flat(100, 40);
        var board = new ForecastScoreboard(Step, halfLifeSteps: 288, minScored: 5);
        for (var origin = 0; origin < 10; origin++)
        {
            board.Resolve(series, origin);
            board.Choose(Candidates(series, origin, model: 150, lastValue: 100), TrainedModel);
        }

        Assert.Equal(ForecastMethod.LastValue, board.Choose(Candidates(series, 10, model: 150, lastValue: 100), TrainedModel).Method);
        var (point, method) = board.Choose(Candidates(series, 11, model: 250, lastValue: 100), TrainedModel, duringEvent: true);
        Assert.Equal(ForecastMethod.Model, method);
        Assert.Equal(250, point.P50);
    }

    [Fact]
    public void Choose_NothingAfterTheOriginIsUsed()
    {
        // The series jumps at index 10: forecasts made before the jump are not scored against it until their targets pass.
        var values = Enumerable.Range(0, 30).Select(i => i < 10 ? 100.0 : 1000.0).ToArray();
        var series = new RegularSeries(Start, Step, values);
        var board = new ForecastScoreboard(Step, halfLifeSteps: 288, minScored: 1);
        for (var origin = 0; origin <= 8; origin++)
        {
            board.Resolve(series, origin);
            board.Choose(Candidates(series, origin, model: 100, lastValue: 100, horizon: 1), TrainedModel with { Horizon = 1 });
        }

        // Scored through origin 8: targets 1..8, all 100 and forecast exactly.
        Assert.Equal(8, board.Score(1, null)!.Scored);
        Assert.Equal(0, board.Score(1, null)!.Wape, 6);
    }

    [Fact]
    public void Resolve_SameOriginTwice_RemembersItsForecastsOnce_AndImputedTargetsAreNotScored()
    {
        var imputed = new bool[20];
        imputed[3] = true;
        var series = new RegularSeries(Start, Step, Enumerable.Repeat(100.0, 20).ToArray(), imputed);
        var board = new ForecastScoreboard(Step, halfLifeSteps: 288, minScored: 1);
        for (var origin = 0; origin < 6; origin++)
        {
            for (var run = 0; run < 2; run++)
            {
                board.Resolve(series, origin);
                board.Choose(Candidates(series, origin, model: 100, lastValue: 100), TrainedModel);
            }
        }

        Assert.Single(board.State.Pending);
        Assert.Equal(4, board.Score(1, null)!.Scored); // targets 1, 2, 4, 5: 3 was imputed
    }

    [Fact]
    public void Combination_WeightsCandidatesByOneOverWapeSquared()
    {
        var series = Flat(100, 40);
        var board = new ForecastScoreboard(Step, halfLifeSteps: 1_000_000, minScored: 3);
        CandidateForecasts last = null!;
        for (var origin = 0; origin < 10; origin++)
        {
            board.Resolve(series, origin);
            last = Candidates(series, origin, model: 110, lastValue: 80);
            board.Choose(last, TrainedModel);
        }

        // Model WAPE 0.1, last value 0.2: weights 100 and 25, so (100 × 110 + 25 × 80) / 125 = 104.
        Assert.Equal(104, last.P50[(int)ForecastMethod.Combination], 6);
        Assert.Equal(0.04, board.Score(1, ForecastMethod.Combination)!.Wape, 6);
        Assert.Equal(ForecastMethod.Combination, board.Choose(Candidates(series, 10, model: 110, lastValue: 80), TrainedModel).Method);
    }

    [Fact]
    public void PeakBias_IsTheMeanErrorWhereTheActualIsInTheTopDecile()
    {
        // Actuals 0..99 in a repeating ramp; the forecast is always 50: the top decile (90 and above) is under-forecast.
        // Forecasting starts after one whole ramp, so the history's top decile is already the ramp's.
        var series = new RegularSeries(Start, Step, Enumerable.Range(0, 400).Select(i => (double)(i % 100)).ToArray());
        var board = new ForecastScoreboard(Step, halfLifeSteps: 1_000_000, minScored: 1);
        for (var origin = 99; origin < 399; origin++)
        {
            board.Resolve(series, origin);
            board.Choose(Candidates(series, origin, model: 50, lastValue: 50), TrainedModel);
        }

        var score = board.Score(1, ForecastMethod.Model)!;
        Assert.InRange(score.PeakBias, 40, 46); // about (90 + … + 99) / 10 − 50; the decile moves a little as the ramp repeats
        Assert.InRange(score.Bias, -1, 1);
    }

    [Fact]
    public void State_RoundTripsThroughJson_AndChoosesTheSame()
    {
        var series = Flat(100, 40);
        var board = new ForecastScoreboard(Step, halfLifeSteps: 288, minScored: 3);
        for (var origin = 0; origin < 10; origin++)
        {
            board.Resolve(series, origin);
            board.Choose(Candidates(series, origin, model: 150, lastValue: 100, week: double.NaN), TrainedModel);
        }

        var json = JsonSerializer.Serialize(board.State, JsonSerializerOptions.Web);
        var restored = new ForecastScoreboard(Step, 288, 3, JsonSerializer.Deserialize<ScoreboardState>(json, JsonSerializerOptions.Web));
        restored.Resolve(series, 10);

        Assert.Equal(ForecastMethod.LastValue, restored.Choose(Candidates(series, 10, model: 150, lastValue: 100), TrainedModel).Method);
        Assert.Equal(10, restored.Score(1, ForecastMethod.Model)!.Scored);
        Assert.Equal(board.Score(1, ForecastMethod.Model)!.Wape, restored.Score(1, ForecastMethod.Model)!.Wape, 6);
        Assert.Empty(new ForecastScoreboard(TimeSpan.FromMinutes(1), 288, 3, JsonSerializer.Deserialize<ScoreboardState>(json, JsonSerializerOptions.Web)).State.Scores);
    }

    [Fact]
    public void State_FromAnotherVersionOrDamaged_IsDroppedWhereItDoesNotFit()
    {
        var state = new ScoreboardState
        {
            Step = Step,
            Scores = [new CandidateScore { Horizon = 1, Method = (ForecastMethod)42, Scored = 5, Weight = 5, AbsError = 1, AbsActual = 10 }],
            Pending = [new PendingForecast { Target = Start.AddMinutes(5), Horizon = 1, P50 = [1, 2], P90 = [1, 2] }],
        };

        var board = new ForecastScoreboard(Step, 288, 3, state);
        board.Resolve(Flat(100, 10), 5);

        Assert.Empty(board.State.Scores);
        Assert.Empty(board.State.Pending);
    }

    private static RegularSeries Flat(double value, int count) => new(Start, Step, Enumerable.Repeat(value, count).ToArray());

    private static CandidateForecasts Candidates(RegularSeries series, int origin, double model, double lastValue, int horizon = 1, double week = double.NaN)
    {
        var candidates = new CandidateForecasts(horizon, series.TimeAt(origin) + (Step * horizon));
        candidates.Set(ForecastMethod.Model, new ForecastPoint(horizon, candidates.Time, model, model * 1.2));
        candidates.Set(ForecastMethod.LastValue, new ForecastPoint(horizon, candidates.Time, lastValue, lastValue * 1.2));
        if (double.IsFinite(week))
        {
            candidates.Set(ForecastMethod.SeasonalNaiveWeek, new ForecastPoint(horizon, candidates.Time, week, week));
        }

        return candidates;
    }
}
