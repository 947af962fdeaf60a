using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Messaging;
using Shadowing.Core.Mirroring;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Functions.Validation;
using Shadowing.TestUtilities.State;

namespace Shadowing.Functions.Tests.Validation;

public sealed class ValidateShadowsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 30, TimeSpan.Zero);

    [Theory]
    [InlineData("10m", 10)]
    [InlineData("00:05:00", 5)]
    public void Window_ReadAsDurationsAreWritten(string setting, int minutes) =>
        Assert.Equal(TimeSpan.FromMinutes(minutes), Options(setting).Window);

    [Fact]
    public void Window_ABareNumber_IsRefusedNamingTheSetting_NotReadAsDays()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Options("10"));

        Assert.Contains("ValidateShadowsWindow is '10'", error.Message, StringComparison.Ordinal);
    }

    private static ValidateShadowsOptions Options(string window) =>
        new ServiceCollection().AddLogging()
            .AddShadowingFunctions(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ValidateShadowsWindow"] = window, ["Shadowing:Mode"] = "Embedded" }).Build())
            .BuildServiceProvider().GetRequiredService<ValidateShadowsOptions>();

    [Fact]
    public async Task Run_AFailingPreWarmedShadow_PublishesItsVerdictForItsWorkflow()
    {
        var store = new InMemoryStateStore();
        var bus = Substitute.For<IEventBus>();
        await using var provider = new ServiceCollection().AddLogging()
            .AddSingleton<IStateStore>(store).AddSingleton(bus).AddSingleton<TimeProvider>(new FakeTimeProvider(Now))
            .AddShadowingFunctions(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ValidateShadowsWindow"] = "00:05:00" }).Build())
            .AddSingleton<ValidateShadows>()
            .BuildServiceProvider();
        await provider.GetRequiredService<RoutingTableStore>().PutAsync(new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:1", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:2", State = ShadowState.PreWarmed, Owner = "shadows-orders-1" }],
        }, TestContext.Current.CancellationToken);
        var minute = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        await StoredOutcomes.SaveAsync(store, Enumerable.Range(0, 60).Select(i => new MirrorOutcome
        {
            RequestId = $"r{i}",
            Service = "orders",
            Method = "GET",
            Path = "/items",
            ReceivedAt = minute.AddSeconds(i % 30),
            Production = new EndpointAnswer("p1", 200, 20, 10, "d"),
            Copy = new EndpointAnswer("s1", 503, 20, 10, "e"),
        }), TestContext.Current.CancellationToken);

        await provider.GetRequiredService<ValidateShadows>().Run(new TimerInfo(), TestContext.Current.CancellationToken);

        await bus.Received(1).PublishAsync(
            Topics.ShadowVerdicts,
            Arg.Is<ShadowVerdictNotice>(n => n.ShadowId == "s1" && n.Owner == "shadows-orders-1" && n.Verdict == Verdict.Fail),
            Arg.Any<CancellationToken>());
        Assert.Equal(TimeSpan.FromMinutes(5), provider.GetRequiredService<ValidateShadowsOptions>().Window);
    }
}
