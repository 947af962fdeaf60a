using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Metrics;
using Shadowing.Core.Routing;
using Shadowing.Core.State;
using Shadowing.Core.TimeSeries;
using Shadowing.Forecasting.Calendar;
using Shadowing.Forecasting.Pae;
using Shadowing.Forecasting.Planning;
using Shadowing.Functions.Forecasting;
using Shadowing.TestUtilities.Data;
using Shadowing.TestUtilities.State;

namespace Shadowing.Functions.Tests.Forecasting;

public sealed class ForecastDemandTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Run_Timer_ForecastsEveryServiceIntoTheStore(bool pastDue)
    {
        var state = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        var tables = new RoutingTableStore(state, bus);
        await tables.PutAsync(new RoutingTable { Service = "orders", Production = [new ProductionEndpoint { Id = "o1", Address = "dapr://o1", MaxConcurrency = 8 }] }, TestContext.Current.CancellationToken);
        var metrics = Substitute.For<IMetricsSource>();
        var step = TimeSpan.FromMinutes(5);
        metrics.GetAsync(Arg.Any<MetricQuery>(), Arg.Any<CancellationToken>()).Returns(SyntheticSeries.Demand(Now - TimeSpan.FromDays(3), step, 864, seed: 1));
        var options = Options.Create(new PaeOptions { Horizon = TimeSpan.FromMinutes(15), History = TimeSpan.FromDays(3), EndpointCapacity = { ["orders"] = 1000 } });
        var pae = new DemandForecastService(tables, metrics, state, new ShadowRequestStore(state, bus), NoHolidays.Instance, options, new FakeTimeProvider(Now), NullLogger<DemandForecastService>.Instance);
        var timer = new TimerInfo { IsPastDue = pastDue, ScheduleStatus = new ScheduleStatus { Last = Now.UtcDateTime.AddMinutes(-5), Next = Now.UtcDateTime.AddMinutes(5) } };

        await new ForecastDemand(pae, NullLogger<ForecastDemand>.Instance).Run(timer, TestContext.Current.CancellationToken);

        var forecast = await state.GetJsonAsync<ForecastDocument>("forecast/orders", TestContext.Current.CancellationToken);
        Assert.Equal(3, forecast!.Value.Points.Count);
        Assert.Equal(Now, forecast.Value.GeneratedAt);
    }
}
