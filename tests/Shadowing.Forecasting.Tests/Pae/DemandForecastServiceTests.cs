using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Planning;
using Shadowing.TestUtilities.Data;
using Shadowing.TestUtilities.State;

namespace Shadowing.Forecasting.Tests.Pae;

public sealed class DemandForecastServiceTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);
    private readonly InMemoryStateStore _state = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();
    private readonly IMetricsSource _metrics = Substitute.For<IMetricsSource>();
    private readonly FakeTimeProvider _time = new(Now);
    private readonly PaeOptions _options = new()
    {
        Step = Step,
        Horizon = TimeSpan.FromMinutes(30),
        History = TimeSpan.FromDays(8),
        Forecaster = new ForecasterOptions { Iterations = 100 },
        EndpointCapacity = { ["orders"] = 60 }, // requests per minute: 300 per step, 600 for both production endpoints
    };

    public DemandForecastServiceTests()
    {
        // A metric a test does not serve is one the source does not have (as the router's records have no CPU).
        _metrics.GetAsync(Arg.Any<MetricQuery>(), Arg.Any<CancellationToken>()).Returns<RegularSeries>(_ => throw new MetricsUnavailableException("not served") { NoData = true });
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Run_DemandAboveCapacitySoon_WritesForecastAndRequestsShadowsOnce()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 2000)); // about 900 requests per step at noon
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));
        var logger = Logger();
        var pae = Service(logger: logger);

        var first = Assert.Single(await pae.RunAsync(Ct));
        var second = Assert.Single(await pae.RunAsync(Ct));

        var forecast = (await _state.GetJsonAsync<ForecastDocument>("forecast/orders", Ct))!.Value;
        Assert.Equal(6, forecast.Points.Count);
        Assert.Equal(Now, forecast.Points[0].Time); // the last complete step is 11:55-12:00, so the forecast starts at 12:00
        Assert.Equal(ForecastMethod.Model, forecast.Method);
        Assert.Equal(600, forecast.ProductionCapacity);
        Assert.NotNull(forecast.ShadowsNeededFrom);
        Assert.True(first.Published);
        Assert.Contains(ShadowRequestKind.Demand, first.Request!.Kinds);
        Assert.False(second.Published);
        Assert.Equal(first.Request.Id, second.Request!.Id);
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, Arg.Any<ShadowRequest>(), Arg.Any<CancellationToken>());
        Assert.Empty(Warnings(logger)); // a shadow request is the PAE doing its job, not a problem for an operator's warning filter
    }

    [Fact]
    public async Task Run_DemandFallsAfterShadowsWereRequested_EndsTheWindowSooner_AndSaysSo()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 2000));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));
        var pae = Service();
        var requested = Assert.Single(await pae.RunAsync(Ct)).Request!;

        Serve("orders", MetricKind.Requests, Demand(level: 100)); // the campaign was called off: a twentieth of the demand
        var outcome = Assert.Single(await pae.RunAsync(Ct));

        Assert.Equal(Now.AddMinutes(30), requested.WindowEnd);
        var stored = (await _state.GetJsonAsync<ShadowRequest>("shadow-requests/orders/20261126T1200Z", Ct))!.Value;
        Assert.Equal(Now + _options.Planner.LeadTime + _options.Interval, stored.WindowEnd); // one lead time past the next run
        Assert.True(outcome.Published);
        Assert.Equal((stored.WindowEnd, stored.Reason), (outcome.Request!.WindowEnd, outcome.Request.Reason));
        Assert.Contains("shortened at 2026-11-26 12:00:00Z to end at 2026-11-26 12:20:00Z", outcome.Decision, StringComparison.Ordinal);
        await _bus.Received(1).PublishAsync(Topics.ShadowRequests, Arg.Is<ShadowRequest>(r => r.WindowEnd == stored.WindowEnd), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Run_ServiceLastDecidedLongerAgoThanTheInterval_KeepsAShortenedWindowOneLeadTimePastItsLikelyNextDecision()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 2000));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));
        var pae = Service();
        Assert.Single(await pae.RunAsync(Ct));

        // Runs that stop at their deadline take turns over the services: this one was last decided 10 minutes ago.
        var status = (await _state.GetJsonAsync<PaeServiceStatus>(StateKeys.PaeStatus("orders"), Ct))!.Value;
        await _state.SaveJsonAsync(StateKeys.PaeStatus("orders"), status with { RunAt = Now - TimeSpan.FromMinutes(10) }, cancellationToken: Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Assert.Single(await pae.RunAsync(Ct));

        var stored = (await _state.GetJsonAsync<ShadowRequest>("shadow-requests/orders/20261126T1200Z", Ct))!.Value;
        Assert.Equal(Now + _options.Planner.LeadTime + TimeSpan.FromMinutes(10), stored.WindowEnd); // not one interval (5 min) past now
    }

    [Fact]
    public async Task Run_LessHistoryThanPlannerMinimum_NoDemandRequest()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        var recent = Demand(level: 2000);
        var lastHours = (int)(TimeSpan.FromHours(6) / Step);
        Serve("orders", MetricKind.Requests, new RegularSeries(recent.TimeAt(recent.Count - lastHours), Step, [.. recent.Values.Skip(recent.Count - lastHours)]));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.NotNull(outcome.Forecast);
        Assert.Null(outcome.Request); // six hours of history: the forecast is stored, but it does not request shadows
        var status = (await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value;
        Assert.True(status.Forecast);
        Assert.Equal(72, status.HistorySteps);
        Assert.Contains("no demand decision until there is 1 day of history (Pae:Planner:MinHistory); there is 6 h", status.Decision, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OneWholeStepOfHistory_NoForecastAndSaysHowMuchItHasAndNeeds()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, new RegularSeries(Now - Step, Step, [40]));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.Null(outcome.Forecast);
        var status = (await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value;
        Assert.False(status.Forecast);
        Assert.Equal(1, status.HistorySteps);
        Assert.Equal("not enough demand history: 1 whole step(s) of 5 min; a forecast needs 2 (10 min)", status.Problem);
    }

    [Fact]
    public async Task Run_NoLatencyToEstimateCapacity_StillForecastsAndSaysWhyThereIsNoDemandDecision()
    {
        _options.EndpointCapacity.Clear();
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyMean, Flat(0));
        Serve("orders", MetricKind.LatencyP90, Flat(0));
        Serve("orders", MetricKind.Errors, Flat(0));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.NotNull(outcome.Forecast);
        Assert.Null(outcome.Forecast.ProductionCapacity);
        Assert.StartsWith("no demand decision: Service 'orders' has no observed latency", outcome.Decision, StringComparison.Ordinal);
        Assert.Contains("Pae:EndpointCapacity:orders", outcome.Decision, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_DailyCycleGoneForTheLastDays_ForecastsWithTheLastValue_AndTheDocumentSaysWhy()
    {
        // Six days of a daily cycle, then two of a random walk without one (the traffic changed): the model keeps
        // forecasting the cycle it learnt and is clearly worse than persistence on the latest, held-out history.
        var steps = (int)(TimeSpan.FromDays(8) / Step);
        var cycle = (int)(TimeSpan.FromDays(6) / Step);
        var before = SyntheticSeries.Demand(Now - TimeSpan.FromDays(8), Step, cycle, seed: 41, noise: 0.03);
        var walk = SyntheticSeries.RandomWalk(Now - TimeSpan.FromDays(2), Step, steps - cycle, seed: 7, level: before.Values[^1]);
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, new RegularSeries(before.Start, Step, [.. before.Values, .. walk.Values]));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));

        Assert.Single(await Service().RunAsync(Ct));

        var forecast = (await _state.GetJsonAsync<ForecastDocument>("forecast/orders", Ct))!.Value;
        Assert.True(forecast.Method == ForecastMethod.LastValue, forecast.Selection);
        Assert.All(Enumerable.Range(1, 6), h => Assert.Contains($"horizon {h}: LastValue (held-out WAPE at training LastValue ", forecast.Selection, StringComparison.Ordinal));
        Assert.Contains("Model ", forecast.Selection, StringComparison.Ordinal);
        Assert.All(forecast.Points, p => Assert.Equal(walk.Values[^1], p.P50));
    }

    [Fact]
    public async Task Run_Successive_ScoresEarlierForecastsAgainstTheActuals_AndReportsThem()
    {
        // Nine days of demand; each run sees what has happened by its time, so later runs score earlier forecasts.
        var all = SyntheticSeries.Demand(Now - TimeSpan.FromDays(8), Step, (int)(TimeSpan.FromDays(9) / Step), seed: 41, noise: 0.03, level: 100);
        await Tables().PutAsync(Table("orders"), Ct);
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
            .Returns(call => Upto(all, call.Arg<MetricQuery>().To));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));
        var pae = Service();

        for (var run = 0; run < 20; run++)
        {
            Assert.NotNull(Assert.Single(await pae.RunAsync(Ct)).Forecast);
            if (run == 10)
            {
                Assert.NotNull(Assert.Single(await pae.RunAsync(Ct)).Forecast); // a second run from the same origin scores nothing twice
            }

            _time.Advance(Step);
        }

        var forecast = (await _state.GetJsonAsync<ForecastDocument>("forecast/orders", Ct))!.Value;
        var scores = forecast.Accountability!;
        Assert.Equal([1, 4, 6], scores.Select(s => s.Horizon).Distinct().Order());

        // Run r forecasts from origin r; at run 19, horizon h has scored the origins 0..19−h.
        Assert.Equal(19, scores.Single(s => s is { Horizon: 1, Candidate: "forecast" }).Scored);
        Assert.Equal(14, scores.Single(s => s is { Horizon: 6, Candidate: "forecast" }).Scored);
        Assert.Contains(scores, s => s is { Horizon: 6, Candidate: "Model", Wape: < 0.2 });
        Assert.Contains(scores, s => s is { Horizon: 6, Candidate: "LastValue" });
        Assert.Contains("recent WAPE", forecast.Selection, StringComparison.Ordinal);
        var board = (await _state.GetJsonAsync<Shadowing.Forecasting.Accountability.ScoreboardState>("forecast-scores/orders", Ct))!.Value;
        Assert.Equal(6 + 5 + 4 + 3 + 2 + 1, board.Pending.Count); // origin 19 waits for six horizons, origin 18 for five, …
    }

    [Fact]
    public async Task Run_LowDemandLowRisk_ForecastOnly()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.NotNull(outcome.Forecast);
        Assert.Null(outcome.Request);
        Assert.Null(outcome.Forecast.ShadowsNeededFrom);
        Assert.True(outcome.Forecast.RiskScore < 0.5);
        Assert.Matches("^no shadows needed: peak p90 [0-9]+ requests per 5 min plus 10 % headroom stays within production capacity 600; failure risk 0.[0-9]+ below 0.80$", outcome.Decision);
    }

    [Fact]
    public async Task Run_LatencyShiftsUp_RequestsShadowsForRisk()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        var latency = Flat(50);
        var shifted = latency.Values.Select((v, i) => i >= latency.Count - 24 ? v * 4 : v).ToArray();
        Serve("orders", MetricKind.LatencyP90, new RegularSeries(latency.Start, Step, shifted));
        Serve("orders", MetricKind.Errors, Flat(1));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.True(outcome.Forecast!.RiskAlarm);
        Assert.Equal([ShadowRequestKind.Risk], outcome.Request!.Kinds);
    }

    [Fact]
    public async Task Run_ErrorsInAFewStepsOfAMostlyErrorFreeService_AreNoFailureRisk()
    {
        // One error in every tenth step for eight days, then in three of the last six: with at least half the steps at 0,
        // the MAD and the median level are 0, and the z-scale fell to 1e-9, so these three errors scored 1.0.
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        var quiet = Flat(0);
        var errors = quiet.Values.Select((_, i) => i >= quiet.Count - 6 ? (i % 2 == 0 ? 1.0 : 0) : (i % 10 == 3 ? 1 : 0)).ToArray();
        Serve("orders", MetricKind.Errors, new RegularSeries(quiet.Start, Step, errors));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.True(outcome.Forecast!.RiskScore < 0.5, $"risk {outcome.Forecast.RiskScore}");
        Assert.Null(outcome.Request);
    }

    [Fact]
    public async Task Run_ARiskMetricWhoseSourceStopped_IsNotScored()
    {
        // Latency quadrupled over the last two hours a source reported, three hours ago: today's score is not known.
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        var latency = Upto(Flat(50), Now - TimeSpan.FromHours(3));
        Serve("orders", MetricKind.LatencyP90, new RegularSeries(latency.Start, Step, [.. latency.Values.Select((v, i) => i >= latency.Count - 24 ? v * 4 : v)]));
        Serve("orders", MetricKind.Errors, Flat(1));

        var logger = Logger();
        var outcome = Assert.Single(await Service(logger: logger).RunAsync(Ct));

        Assert.False(outcome.Forecast!.RiskAlarm);
        Assert.Null(outcome.Request);
        Assert.Contains(77, Warnings(logger)); // said, as the source being behind or stopped
    }

    [Fact]
    public async Task Run_AServiceWithoutRequestsLately_HasNoLatencyToJudge_AndNoSourceIsCalledStopped()
    {
        // The router's latency series ends where the requests stopped, 15 minutes ago: quiet, not stale.
        await Tables().PutAsync(Table("orders"), Ct);
        var demand = Demand(level: 100);
        Serve("orders", MetricKind.Requests, new RegularSeries(demand.Start, Step, [.. demand.Values.Select((v, i) => i >= demand.Count - 3 ? 0 : v)]));
        Serve("orders", MetricKind.LatencyP90, Upto(Flat(50), Now - (3 * Step)));
        Serve("orders", MetricKind.Errors, Flat(0));
        var logger = Logger();

        Assert.NotNull(Assert.Single(await Service(logger: logger).RunAsync(Ct)).Forecast);
        Assert.DoesNotContain(77, Warnings(logger));
    }

    [Fact]
    public async Task Run_NoRiskMetricCanBeRead_SaysRiskWasNotAssessed_AndWarnsOfTheFailures_NotOfMetricsThatAreNotThere()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyMean, Flat(200));
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.LatencyP90), Arg.Any<CancellationToken>())
            .Returns<RegularSeries>(_ => throw new MetricsUnavailableException("Prometheus answered 400 to LatencyP90 of 'orders': parse error"));
        var logger = Logger();

        var outcome = Assert.Single(await Service(logger: logger).RunAsync(Ct)); // the others are not served: no data, not a failure

        Assert.EndsWith("failure risk not assessed: none of LatencyP90, Errors, Cpu, Memory, Io (Pae:RiskMetrics) could be read", outcome.Decision, StringComparison.Ordinal);
        Assert.Equal([104], Warnings(logger));
    }

    [Fact]
    public async Task Run_AnOptionalMetricsFileThatCannotBeRead_LeavesThatMetricOut_NotTheServicesForecast()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Cpu), Arg.Any<CancellationToken>())
            .Returns<RegularSeries>(_ => throw new TimeSeriesFormatException("orders.cpu.csv line 7: 'n/a' is not a number"));
        var logger = Logger();

        var outcome = Assert.Single(await Service(logger: logger).RunAsync(Ct));

        Assert.NotNull(outcome.Forecast);
        Assert.Equal([104], Warnings(logger));
    }

    [Fact]
    public async Task Run_ScoresWrittenByAnotherVersion_StartAfresh_InsteadOfStoppingTheServicesForecasts()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyMean, Flat(200));
        await _state.SaveAsync(StateKeys.ForecastScores("orders"), "{\"step\":\"00:05:00\",\"scores\":[{\"horizon\":1,\"method\":\"SomeNewCandidate\"}]}"u8.ToArray(), null, Ct);
        var logger = Logger();

        var outcome = Assert.Single(await Service(logger: logger).RunAsync(Ct));

        Assert.NotNull(outcome.Forecast);
        Assert.Contains(105, Warnings(logger));
        Assert.Null(await Record.ExceptionAsync(() => _state.GetJsonAsync<Shadowing.Forecasting.Accountability.ScoreboardState>(StateKeys.ForecastScores("orders"), Ct))); // written anew
    }

    private static ILogger<DemandForecastService> Logger()
    {
        var logger = Substitute.For<ILogger<DemandForecastService>>();
        logger.IsEnabled(Arg.Any<LogLevel>()).Returns(true);
        return logger;
    }

    private static int[] Warnings(ILogger<DemandForecastService> logger) =>
        [.. logger.ReceivedCalls()
            .Where(c => c.GetMethodInfo().Name == nameof(ILogger.Log) && c.GetArguments()[0] is LogLevel.Warning)
            .Select(c => ((EventId)c.GetArguments()[1]!).Id)];

    [Fact]
    public async Task Run_OneServiceFails_OthersStillForecast()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        await Tables().PutAsync(Table("payments"), Ct);
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Service == "orders"), Arg.Any<CancellationToken>())
            .Returns<RegularSeries>(_ => throw new MetricsUnavailableException("prometheus down"));
        Serve("payments", MetricKind.Requests, Demand(level: 100));
        Serve("payments", MetricKind.LatencyP90, Flat(50));
        Serve("payments", MetricKind.Errors, Flat(1));
        _options.EndpointCapacity["payments"] = 60;

        var outcomes = await Service().RunAsync(Ct);

        Assert.Equal("no demand history: prometheus down", outcomes.Single(o => o.Service == "orders").Problem);
        Assert.NotNull(outcomes.Single(o => o.Service == "payments").Forecast);
        Assert.Null(await _state.GetAsync("forecast/orders", Ct));
        var status = (await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value;
        Assert.False(status.Forecast);
        Assert.Equal("no demand history: prometheus down", status.Problem);
    }

    [Fact]
    public async Task Run_TrainingFails_TheServiceIsStillForecastWithTheBaselines_AndItsRiskScored()
    {
        // The model's features read the holiday calendar; the baselines do not: a calendar that throws fails the training only.
        var holidays = Substitute.For<IHolidayCalendar>();
        holidays.TimeZone.Returns(TimeZoneInfo.Utc);
        holidays.IsHoliday(Arg.Any<DateOnly>()).Returns<bool>(_ => throw new DllNotFoundException("lib_lightgbm"));
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 2000));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));
        var logger = Logger();

        var outcome = Assert.Single(await Service(logger: logger, holidays: holidays).RunAsync(Ct));

        Assert.True((await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value.Forecast);
        Assert.NotEqual(ForecastMethod.Model, (await _state.GetJsonAsync<ForecastDocument>("forecast/orders", Ct))!.Value.Method);
        Assert.DoesNotContain("failure risk not assessed", outcome.Decision, StringComparison.Ordinal);
        Assert.Contains(logger.ReceivedCalls(), c => c.GetArguments().FirstOrDefault() is LogLevel.Error && c.GetArguments().OfType<DllNotFoundException>().Any());
    }

    [Fact]
    public async Task Run_OneServiceFailsUnexpectedly_OthersStillForecast_TheFailureIsRecorded_AndTheRunFailsAfterAll()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        await Tables().PutAsync(Table("payments"), Ct);
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Service == "orders"), Arg.Any<CancellationToken>())
            .Returns<RegularSeries>(_ => throw new InvalidOperationException("a bug in a custom metrics source"));
        Serve("payments", MetricKind.Requests, Demand(level: 100));
        Serve("payments", MetricKind.LatencyP90, Flat(50));
        Serve("payments", MetricKind.Errors, Flat(1));
        _options.EndpointCapacity["payments"] = 60;

        // The run fails, so the host counts it, but only once every service has run.
        var error = await Assert.ThrowsAsync<AggregateException>(() => Service().RunAsync(Ct));

        Assert.IsType<InvalidOperationException>(Assert.Single(error.InnerExceptions));
        Assert.Equal("a bug in a custom metrics source", (await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value.Problem);
        Assert.True((await _state.GetJsonAsync<PaeServiceStatus>("pae/payments", Ct))!.Value.Forecast);
        Assert.NotNull(await _state.GetAsync("forecast/payments", Ct));
    }

    [Fact]
    public async Task Run_OneRoutingTableCannotBeRead_OthersStillForecast_AndItsStatusSaysWhy()
    {
        // Written by a newer version, with a shadow state this one does not know.
        await _state.SaveAsync("routing/orders", """{"service":"orders","production":[],"shadows":[{"id":"s1","address":"http://127.0.0.1:1","state":"Hibernating"}]}"""u8.ToArray(), etag: null, Ct);
        await Tables().PutAsync(Table("payments"), Ct);
        Serve("payments", MetricKind.Requests, Demand(level: 100));
        Serve("payments", MetricKind.LatencyP90, Flat(50));
        Serve("payments", MetricKind.Errors, Flat(1));
        _options.EndpointCapacity["payments"] = 60;

        var outcomes = await Service().RunAsync(Ct);

        Assert.NotNull(Assert.Single(outcomes, o => o.Service == "payments").Forecast);
        Assert.StartsWith("its routing table cannot be read: ", Assert.Single(outcomes, o => o.Service == "orders").Problem, StringComparison.Ordinal);
        var status = (await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value;
        Assert.False(status.Forecast);
        Assert.Contains("$.shadows[0].state", status.Problem, StringComparison.Ordinal); // where, so an operator can find it
    }

    [Fact]
    public async Task Run_ServiceWhoseTableWasDeleted_ItsForecastScoresAndStatusAreDeleted_TheOthersKept()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        await Tables().PutAsync(Table("payments"), Ct);
        foreach (var service in new[] { "orders", "payments" })
        {
            Serve(service, MetricKind.Requests, Demand(level: 100));
            Serve(service, MetricKind.LatencyP90, Flat(50));
            Serve(service, MetricKind.Errors, Flat(1));
            _options.EndpointCapacity[service] = 60;
        }

        await Service().RunAsync(Ct);
        Assert.NotNull(await _state.GetAsync("forecast-scores/payments", Ct));
        await _state.DeleteAsync("pae/payments", etag: null, Ct); // its status is written best effort: it may be missing
        await _state.DeleteAsync("routing/payments", etag: null, Ct);
        _time.Advance(Step);
        await Service().RunAsync(Ct);

        Assert.Null(await _state.GetAsync("forecast/payments", Ct));
        Assert.Null(await _state.GetAsync("forecast-scores/payments", Ct));
        Assert.Null(await _state.GetAsync("pae/payments", Ct));
        Assert.NotNull(await _state.GetAsync("forecast/orders", Ct));
        Assert.NotNull(await _state.GetAsync("forecast-scores/orders", Ct));
        Assert.NotNull(await _state.GetAsync("pae/orders", Ct));
    }

    [Fact]
    public async Task Run_OneServicesSourceTimesOut_OthersStillForecast()
    {
        // HttpClient's and Azure.Core's own timeouts surface as a cancellation the caller did not ask for.
        await Tables().PutAsync(Table("orders"), Ct);
        await Tables().PutAsync(Table("payments"), Ct);
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Service == "orders"), Arg.Any<CancellationToken>())
            .Returns<RegularSeries>(_ => throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.", new TimeoutException()));
        Serve("payments", MetricKind.Requests, Demand(level: 100));
        Serve("payments", MetricKind.LatencyP90, Flat(50));
        Serve("payments", MetricKind.Errors, Flat(1));
        _options.EndpointCapacity["payments"] = 60;

        var outcomes = await Service().RunAsync(Ct);

        Assert.Contains("HttpClient.Timeout", outcomes.Single(o => o.Service == "orders").Problem, StringComparison.Ordinal);
        Assert.NotNull(outcomes.Single(o => o.Service == "payments").Forecast);
        Assert.Contains("HttpClient.Timeout", (await _state.GetJsonAsync<PaeServiceStatus>("pae/orders", Ct))!.Value.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnTheStepBoundary_ForecastsFromTheLastSettledStep()
    {
        // 12:05:00, as a timer on "0 */5 * * * *" fires: the router writes 12:04's record seconds later, so the step
        // 12:00-12:05 is not complete yet and would read as a drop in demand.
        _time.Advance(Step);
        await Tables().PutAsync(Table("orders"), Ct);
        var asked = new List<MetricQuery>();
        _metrics.GetAsync(Arg.Do<MetricQuery>(asked.Add), Arg.Any<CancellationToken>()).Returns<RegularSeries>(_ => throw new MetricsUnavailableException("not served"));
        Serve("orders", MetricKind.Requests, Demand(level: 100));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.Equal(Now, asked.First(q => q.Kind == MetricKind.Requests).To);
        Assert.Equal(Now, outcome.Forecast!.Points[0].Time);
    }

    [Fact]
    public async Task Run_OnATimerThatFiredAFewMillisecondsEarly_ForecastsFromTheStepThatHasJustSettled()
    {
        // Due at 12:06:00 (a minute after the step 12:00-12:05 ended), woken at 12:05:59.998.
        _time.Advance(Step + TimeSpan.FromMinutes(1) - TimeSpan.FromMilliseconds(2));
        await Tables().PutAsync(Table("orders"), Ct);
        var asked = new List<MetricQuery>();
        _metrics.GetAsync(Arg.Do<MetricQuery>(asked.Add), Arg.Any<CancellationToken>()).Returns<RegularSeries>(_ => throw new MetricsUnavailableException("not served"));
        Serve("orders", MetricKind.Requests, Demand(level: 100));

        await Service().RunAsync(Ct);

        Assert.Equal(Now + Step, asked.First(q => q.Kind == MetricKind.Requests).To); // before, 12:00: the previous run's origin again
    }

    [Fact]
    public async Task Run_DemandHistoryStoppedAnHourAgo_NoForecastAndNoRequest_AndSaysWhy()
    {
        _time.Advance(TimeSpan.FromMinutes(62)); // 13:02: the source's last step is 11:55-12:00
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 2000)); // would need shadows, if it were current
        Serve("orders", MetricKind.LatencyP90, Flat(50));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.Null(outcome.Forecast);
        Assert.Null(outcome.Request);
        Assert.Equal("demand history ends at 2026-11-26 12:00:00Z, 1 h before the latest settled step (2026-11-26 13:00:00Z): the source is behind or has stopped; no forecast from stale data", outcome.Problem);
        await _bus.DidNotReceive().PublishAsync(Topics.ShadowRequests, Arg.Any<ShadowRequest>(), Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Run_PastItsDeadline_LeavesTheRestToTheNextRun_WhichStartsWithThem()
    {
        // Each service's history takes five minutes to read; a run may go on starting services for eight.
        _options.RunDeadline = TimeSpan.FromMinutes(8);
        foreach (var service in new[] { "a", "b", "c" })
        {
            await Tables().PutAsync(Table(service), Ct);
            _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Service == service && q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
                .Returns(_ =>
                {
                    _time.Advance(TimeSpan.FromMinutes(5));
                    return Demand(level: 100);
                });
        }

        var pae = Service();
        var first = await pae.RunAsync(Ct);
        var second = await pae.RunAsync(Ct);

        Assert.Equal(["a", "b"], first.Select(o => o.Service));
        Assert.Equal(["c", "a"], second.Select(o => o.Service));

        // A worker recycled between runs starts where the last one stopped, not with the first service.
        var third = await Service().RunAsync(Ct);
        Assert.Equal(["b", "c"], third.Select(o => o.Service));
    }

    [Fact]
    public async Task Run_ThatFinishesEveryService_ClearsTheStoredResumePoint()
    {
        _options.RunDeadline = TimeSpan.FromMinutes(8);
        foreach (var service in new[] { "a", "b", "c" })
        {
            await Tables().PutAsync(Table(service), Ct);
        }

        var reads = 0;
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
            .Returns(_ =>
            {
                // The first run reads slowly and stops after two services; the next two finish.
                if (reads++ < 2)
                {
                    _time.Advance(TimeSpan.FromMinutes(5));
                }

                return Demand(level: 100);
            });

        // Runs move between a Functions app's instances: the one that stopped runs again after another finished.
        var first = Service();
        await first.RunAsync(Ct);
        Assert.NotNull(await _state.GetAsync(StateKeys.PaeResume, Ct));
        Assert.Equal(["c", "a", "b"], (await Service().RunAsync(Ct)).Select(o => o.Service));
        Assert.Null(await _state.GetAsync(StateKeys.PaeResume, Ct));
        Assert.Equal(["a", "b", "c"], (await first.RunAsync(Ct)).Select(o => o.Service));

        // An unreadable resume point is written over, not read and complained of at every run.
        await _state.SaveAsync(StateKeys.PaeResume, "not json"u8.ToArray(), null, Ct);
        await first.RunAsync(Ct);
        Assert.Null(await _state.GetAsync(StateKeys.PaeResume, Ct));
    }

    [Fact]
    public async Task Run_AServiceDeleted_ItsGaugesAreNoLongerExported()
    {
        using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var view = new PaeMetrics(factory);
        var exported = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PaeMetrics.MeterName && instrument.Meter.Scope == factory)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) => exported.Add($"{tags.ToArray().Single(t => t.Key == "service").Value}"));
        listener.Start();
        var all = SyntheticSeries.Demand(Now - TimeSpan.FromDays(8), Step, (int)(TimeSpan.FromDays(9) / Step), seed: 41, noise: 0.03, level: 100);
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
            .Returns(call => Upto(all, call.Arg<MetricQuery>().To));
        await Tables().PutAsync(Table("orders"), Ct);
        await Tables().PutAsync(Table("payments"), Ct);

        var pae = Service(view);
        for (var run = 0; run < 3; run++)
        {
            await pae.RunAsync(Ct); // later runs score the earlier forecasts: both services have gauges
            _time.Advance(Step);
        }

        listener.RecordObservableInstruments();
        Assert.Equal(["orders", "payments"], exported.Order(StringComparer.Ordinal));

        await Tables().DeleteAsync("payments", Ct);
        await pae.RunAsync(Ct);
        exported.Clear();
        listener.RecordObservableInstruments();

        Assert.Equal(["orders"], exported);

        // Its source fails (Prometheus unreachable): no forecast this run, and the last figures are not exported as current.
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
            .Returns<Task<RegularSeries>>(_ => throw new MetricsUnavailableException("Prometheus did not answer"));
        _time.Advance(Step);
        Assert.Contains("Prometheus did not answer", Assert.Single(await pae.RunAsync(Ct)).Problem, StringComparison.Ordinal);
        exported.Clear();
        listener.RecordObservableInstruments();
        Assert.Empty(exported);

        // It answers again: figures are back at the next run that forecasts.
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
            .Returns(call => Upto(all, call.Arg<MetricQuery>().To));
        _time.Advance(Step);
        await pae.RunAsync(Ct);
        exported.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(["orders"], exported);

        // Its source stops: the next run an hour later makes no forecast, and the last figures are not exported as current.
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Kind == MetricKind.Requests), Arg.Any<CancellationToken>())
            .Returns(call => Upto(all, Now + (5 * Step)));
        _time.Advance(TimeSpan.FromHours(1));
        Assert.NotNull(Assert.Single(await pae.RunAsync(Ct)).Problem);
        exported.Clear();
        listener.RecordObservableInstruments();

        Assert.Empty(exported);
    }

    [Fact]
    public async Task Run_NoConfiguredCapacity_EstimatesItFromLatencyWithLittlesLaw()
    {
        _options.EndpointCapacity.Clear();
        await Tables().PutAsync(Table("orders"), Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyMean, Flat(200));
        Serve("orders", MetricKind.LatencyP90, Flat(400));
        Serve("orders", MetricKind.Errors, Flat(1));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        // maxConcurrency 10 × 60,000 ms / 200 ms = 3,000 requests per minute; 15,000 per 5-minute step.
        Assert.Equal(15_000, outcome.Forecast!.EndpointCapacity!.Value, 6);
    }

    [Fact]
    public async Task Run_StoredEventCalendar_IsUsed()
    {
        await Tables().PutAsync(Table("orders"), Ct);
        await _state.SaveJsonAsync("events/orders", new List<CalendarEvent> { new(Now.AddDays(-3), Now.AddDays(-3).AddHours(2), "sale", "campaign", 2) }, cancellationToken: Ct);
        Serve("orders", MetricKind.Requests, Demand(level: 100));
        Serve("orders", MetricKind.LatencyP90, Flat(50));
        Serve("orders", MetricKind.Errors, Flat(1));

        var outcome = Assert.Single(await Service().RunAsync(Ct));

        Assert.NotNull(outcome.Forecast);
    }

    private static RoutingTable Table(string service) => new()
    {
        Service = service,
        Production =
        [
            new ProductionEndpoint { Id = $"{service}-1", Address = "http://127.0.0.1:1", MaxConcurrency = 10 },
            new ProductionEndpoint { Id = $"{service}-2", Address = "http://127.0.0.1:2", MaxConcurrency = 10 },
        ],
    };

    private static RegularSeries Demand(double level)
    {
        var start = Now - TimeSpan.FromDays(8);
        return SyntheticSeries.Demand(start, Step, (int)(TimeSpan.FromDays(8) / Step), seed: 41, noise: 0.03, level: level);
    }

    private static RegularSeries Upto(RegularSeries series, DateTimeOffset end)
    {
        var count = (int)((end - series.Start) / Step);
        return new RegularSeries(series.Start, Step, series.Values.Take(count).ToArray());
    }

    private static RegularSeries Flat(double value) =>
        new(Now - TimeSpan.FromDays(8), Step, Enumerable.Repeat(value, (int)(TimeSpan.FromDays(8) / Step)).ToArray());

    private void Serve(string service, MetricKind kind, RegularSeries series) =>
        _metrics.GetAsync(Arg.Is<MetricQuery>(q => q.Service == service && q.Kind == kind), Arg.Any<CancellationToken>()).Returns(series);

    private RoutingTableStore Tables() => new(_state, _bus);

    private DemandForecastService Service(PaeMetrics? view = null, ILogger<DemandForecastService>? logger = null, IHolidayCalendar? holidays = null) => new(
        Tables(),
        _metrics,
        _state,
        new ShadowRequestStore(_state, _bus),
        holidays ?? NoHolidays.Instance,
        Options.Create(_options),
        _time,
        logger ?? NullLogger<DemandForecastService>.Instance,
        paeMetrics: view);
}
