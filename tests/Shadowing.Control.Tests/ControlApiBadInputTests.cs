using System.Text;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using Shadowing.Control.Workflows;
using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.TestUtilities.BadInput;
using Shadowing.TestUtilities.State;

namespace Shadowing.Control.Tests;

/// <summary>
/// The bad-input sweep over the status API: generated workflow ids, event names, service and shadow names, days and
/// bodies at every handler. Each answer is a 4xx problem with a detail (400s name the field) or a success; never a
/// 500 and never an exception.
/// </summary>
public sealed class ControlApiBadInputTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 11, 30, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IWorkflowControl _workflows = Substitute.For<IWorkflowControl>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ControlApi Api => new(_store, Substitute.For<IEventBus>(), _workflows, new FakeTimeProvider(Now));

    private static Gen<string> Name { get; } = Gen.Frequency((1, Gen.OneOf("orders", "wf-1", "s1", "release", "2026-12-02")), (3, BadInputSweep.NastyString));

    [Fact]
    public async Task WorkflowIdsEventNamesAndBodies_AreAnsweredWithAProblemOrSuccess()
    {
        _workflows.GetAsync("wf-1", Arg.Any<CancellationToken>()).Returns(new WorkflowStatus("wf-1", "ShadowLifecycle", Now, Now, "RUNNING", new Dictionary<string, string>()));

        await BadInputSweep.RunAsync(
            "status-api workflows",
            Gen.Select(Name, Name, BadInputSweep.JsonBodyOf("reason", "count", "to")),
            async input =>
            {
                var (id, name, body) = input;
                AssertAnswered(await Api.GetWorkflowAsync(id, Ct));
                AssertAnswered(await Api.RaiseEventAsync(id, name, Body(body), "sweep", Ct));
                AssertAnswered(await Api.TerminateAsync(id, Body(body), "sweep", Ct));
            },
            output);
    }

    [Fact]
    public async Task ServiceShadowAndCalendarInputs_AreAnsweredWithAProblemOrSuccess()
    {
        await _store.SaveJsonAsync(StateKeys.Routing("orders"), new RoutingTable
        {
            Service = "orders",
            Production = [new ProductionEndpoint { Id = "orders-1", Address = "http://127.0.0.1:5101", MaxConcurrency = 8 }],
            Shadows = [new ShadowEndpoint { Id = "s1", Address = "http://127.0.0.1:9", State = ShadowState.PreWarmed }],
        }, cancellationToken: Ct);

        await BadInputSweep.RunAsync(
            "status-api services",
            Gen.Select(Name, Name, BadInputSweep.JsonBodyOf("count", "start", "end", "duration", "reason", "to", "name", "kind", "expectedMultiplier")),
            async input =>
            {
                var (service, shadowId, body) = input;
                AssertAnswered(await Api.GetServiceAsync(service, Ct));
                AssertAnswered(await Api.GetTrafficAsync(service, shadowId, Ct));
                AssertAnswered(await Api.StartShadowsAsync(service, Body(body), "sweep", Ct));
                AssertAnswered(await Api.PromoteAsync(service, shadowId, Body(body), "sweep", Ct));
                AssertAnswered(await Api.PutEventsAsync(service, Body(body), null, "sweep", Ct));
                AssertAnswered(await Api.GetEventsAsync(service, Ct));
                AssertAnswered(await Api.GetRoutingTableAsync(service, Ct));
                AssertAnswered(await Api.GetAuditAsync(shadowId, Ct));
            },
            output);
    }

    private static void AssertAnswered(ControlResult result)
    {
        Assert.InRange(result.Status, 200, 499);
        if (result.Status >= 400)
        {
            var problem = Assert.IsType<ControlProblem>(result.Body);
            Assert.False(string.IsNullOrWhiteSpace(problem.Detail), "a problem says what is wrong");
            if (result.Status == 400)
            {
                Assert.True(problem.Errors is { Count: > 0 }, $"a 400 names the field: {problem.Detail}");
            }
        }
    }

    private static MemoryStream Body(string text) => new(Encoding.UTF8.GetBytes(text));
}
