using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shadowing.Control;
using Shadowing.Control.Workflows;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Accountability;
using Shadowing.Forecasting.Models;
using Shadowing.Forecasting.Pae;
using Shadowing.TestUtilities.State;

namespace Shadowing.Cli.Tests.Forecasting;

/// <summary><c>shadowing forecast-report</c> as a process, against the real control API over a store holding a scored forecast.</summary>
public sealed class ForecastReportCommandTests : IAsyncDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-report-").FullName;
    private readonly InMemoryStateStore _store = new();
    private WebApplication? _api;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task ForecastReport_PrintsEachCandidatesRecentScores_AndJson()
    {
        var url = await StartApiAsync();
        var tables = new RoutingTableStore(_store, Substitute.For<IEventBus>());
        foreach (var service in new[] { "orders", "payments" })
        {
            await tables.PutAsync(new RoutingTable { Service = service, Production = [new ProductionEndpoint { Id = service + "-1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }] }, Ct);
        }

        await _store.SaveJsonAsync(StateKeys.Forecast("orders"), Document(ScoredReport()), cancellationToken: Ct);

        var (exit, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "forecast-report", "--url", url);

        Assert.True(exit == 0, output);
        Assert.Contains("orders", output, StringComparison.Ordinal);
        Assert.Contains("LastValue", output, StringComparison.Ordinal);
        Assert.Contains("0.5", output, StringComparison.Ordinal); // the model's WAPE: 150 forecast for 100
        Assert.Contains("payments: no forecast yet", output, StringComparison.Ordinal);

        var (jsonExit, json) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "forecast-report", "orders", "--url", url, "--json");
        Assert.True(jsonExit == 0, json);
        var report = JsonDocument.Parse(json.Trim().Split('\n')[^1]).RootElement.EnumerateArray().Single();
        var rows = report.GetProperty("accountability").EnumerateArray().ToArray();
        var model = rows.Single(r => r.GetProperty("candidate").GetString() == "Model");
        Assert.Equal(0.5, model.GetProperty("wape").GetDouble(), 6);
        Assert.Equal(-50, model.GetProperty("bias").GetDouble(), 6);
        Assert.Equal(9, model.GetProperty("scored").GetInt32());
        Assert.Contains(rows, r => r.GetProperty("candidate").GetString() == HorizonScore.Forecast);

        var (unknownExit, unknown) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "forecast-report", "nothing-here", "--url", url);
        Assert.Equal(2, unknownExit);
        Assert.Contains("knows no service 'nothing-here'", unknown, StringComparison.Ordinal);
    }

    /// <summary>A real scoreboard's report: ten origins of a flat series, the model 50 % high, the last value exact.</summary>
    private static IReadOnlyList<HorizonScore> ScoredReport()
    {
        var step = TimeSpan.FromMinutes(5);
        var series = new RegularSeries(Start, step, Enumerable.Repeat(100.0, 20).ToArray());
        var board = new ForecastScoreboard(step, halfLifeSteps: 288, minScored: 3);
        var trained = new HorizonChoice(1, ForecastMethod.Model, 0, new Dictionary<ForecastMethod, double> { [ForecastMethod.Model] = 0.1 });
        for (var origin = 0; origin < 10; origin++)
        {
            board.Resolve(series, origin);
            var candidates = new CandidateForecasts(1, series.TimeAt(origin + 1));
            candidates.Set(ForecastMethod.Model, new ForecastPoint(1, candidates.Time, 150, 180));
            candidates.Set(ForecastMethod.LastValue, new ForecastPoint(1, candidates.Time, 100, 120));
            board.Choose(candidates, trained);
        }

        return board.Report([1]);
    }

    private static ForecastDocument Document(IReadOnlyList<HorizonScore> scores) => new()
    {
        Service = "orders",
        GeneratedAt = Start,
        Origin = Start,
        Step = TimeSpan.FromMinutes(5),
        Method = ForecastMethod.LastValue,
        Points = [],
        Accountability = scores,
        Selection = "horizon 1: LastValue (recent WAPE LastValue 0.000, Model 0.500)",
    };

    private async Task<string> StartApiAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(new ControlApi(_store, Substitute.For<IEventBus>(), Substitute.For<IWorkflowControl>(), TimeProvider.System));
        _api = builder.Build();
        _api.MapShadowingControl();
        await _api.StartAsync(Ct);
        return _api.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }
}
