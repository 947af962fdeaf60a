using Shadowing.Core.Messaging;
using Shadowing.Core.Routing;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.Embedded.State;
using NSubstitute;

namespace Shadowing.Cli.Tests.Validation;

/// <summary><c>shadowing validate</c> and <c>shadowing promote</c> on an embedded state file, run as a process.</summary>
public sealed class ValidationCommandsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-validate-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task ValidateJudge_AReadyShadowIsJudgedOnlySinceItBecameReady_AsContinuousValidationJudgesIt()
    {
        var readyAt = TimeProvider.System.GetUtcNow().AddMinutes(-10); // restarted by a remediation, ready again since
        using (var store = new SqliteStateStore(Path.Combine(_directory, "state.db"), TimeProvider.System))
        {
            await new RoutingTableStore(store, Substitute.For<IEventBus>()).PutAsync(
                new RoutingTable
                {
                    Service = "orders",
                    Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:5101", MaxConcurrency = 10 }],
                    Shadows =
                    [
                        new ShadowEndpoint { Id = "ready", Address = "http://127.0.0.1:5201", State = ShadowState.PreWarmed, StateChangedAt = readyAt },
                        new ShadowEndpoint { Id = "warming", Address = "http://127.0.0.1:5202", State = ShadowState.WarmingUp, StateChangedAt = readyAt },
                    ],
                },
                Ct);
            await store.SaveJsonAsync(
                StateKeys.Verdict("orders", "ready"),
                new ShadowVerdict { Service = "orders", Shadow = "ready", Verdict = Verdict.Pass, Reasons = ["made ready"], Metrics = [], From = readyAt.AddMinutes(-5), To = readyAt, JudgedAt = readyAt },
                cancellationToken: Ct);
        }

        var (code, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "validate", "--service", "orders", "--judge", "--window", "30m", "--json", "--state", "state.db");

        Assert.Equal(0, code);
        var verdicts = System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray().ToDictionary(v => v.GetProperty("shadow").GetString()!, v => v.GetProperty("verdict").GetProperty("from").GetDateTimeOffset());
        Assert.Equal(readyAt, verdicts["ready"]);
        Assert.All(System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray(), v => Assert.False(v.GetProperty("stored").GetBoolean()));
        Assert.True(verdicts["warming"] < readyAt.AddMinutes(-19), $"a shadow not ready is judged over the whole window, from {verdicts["warming"]:O}");

        // No copies since: Inconclusive, shown but not stored over the Pass that made it ready (which a promotion needs).
        using var after = new SqliteStateStore(Path.Combine(_directory, "state.db"), TimeProvider.System);
        Assert.Equal(["made ready"], (await after.GetJsonAsync<ShadowVerdict>(StateKeys.Verdict("orders", "ready"), Ct))!.Value.Reasons);
        Assert.Null(await after.GetAsync(StateKeys.Verdict("orders", "warming"), Ct));
    }

    [Fact]
    public async Task Validate_ShowsTheLatestVerdictPerShadow_PromoteNeedsARecentPass()
    {
        var now = TimeProvider.System.GetUtcNow();
        using (var store = new SqliteStateStore(Path.Combine(_directory, "state.db"), TimeProvider.System))
        {
            await new RoutingTableStore(store, Substitute.For<IEventBus>()).PutAsync(
                new RoutingTable
                {
                    Service = "orders",
                    Production = [new ProductionEndpoint { Id = "p1", Address = "http://127.0.0.1:5101", MaxConcurrency = 10 }],
                    Shadows =
                    [
                        new ShadowEndpoint { Id = "good", Address = "http://127.0.0.1:5201", State = ShadowState.PreWarmed },
                        new ShadowEndpoint { Id = "unjudged", Address = "http://127.0.0.1:5202", State = ShadowState.PreWarmed },
                    ],
                },
                Ct);
            await store.SaveJsonAsync(
                StateKeys.Verdict("orders", "good"),
                new ShadowVerdict { Service = "orders", Shadow = "good", Verdict = Verdict.Pass, Reasons = ["latency: no significant difference"], Metrics = [], From = now.AddMinutes(-15), To = now, JudgedAt = now },
                cancellationToken: Ct);
        }

        var (listed, output) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "validate", "--service", "orders", "--state", "state.db");
        var (refused, refusal) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "promote", "orders", "unjudged", "--state", "state.db");
        var (misspelt, misspelling) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "promote", "orders", "godo", "--state", "state.db");
        var (bareNumber, bareNumberError) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "validate", "--service", "orders", "--judge", "--window", "30", "--state", "state.db");
        var (promoted, promotion) = await CliProcess.RunAsync(_directory, TimeSpan.FromMinutes(1), Ct, "promote", "orders", "good", "--state", "state.db");

        Assert.Equal(0, listed);
        Assert.Contains("good: Pass", output, StringComparison.Ordinal);
        Assert.Contains("latency: no significant difference", output, StringComparison.Ordinal);
        Assert.Contains("unjudged: never validated", output, StringComparison.Ordinal);
        Assert.Equal(1, refused);
        Assert.Contains("'unjudged' of service 'orders' has never been validated", refusal, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refusal, StringComparison.Ordinal);
        Assert.Equal(2, misspelt); // the invocation's mistake, not a refusal
        Assert.Contains("service 'orders' has no shadow 'godo' (it has good, unjudged)", misspelling, StringComparison.Ordinal);
        Assert.Equal(2, bareNumber); // 30 was 30 days
        Assert.Contains("--window: '30' is not a duration", bareNumberError, StringComparison.Ordinal);
        Assert.Equal(0, promoted);
        Assert.Contains("good of orders promoted to active", promotion, StringComparison.Ordinal);
        using var after = new SqliteStateStore(Path.Combine(_directory, "state.db"), TimeProvider.System);
        var table = (await after.GetJsonAsync<RoutingTable>(StateKeys.Routing("orders"), Ct))!.Value;
        Assert.Equal(ShadowState.Active, table.Shadows.Single(s => s.Id == "good").State);
        var audit = await new Shadowing.Core.Diagnostics.AuditLog(after, TimeProvider.System).ListAsync(DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime), Ct);
        Assert.Equal([("promote", "orders/good", "to active")], audit.Select(e => (e.Action, e.Target, e.Detail))); // as the status API records it; the refusal records nothing
    }
}
