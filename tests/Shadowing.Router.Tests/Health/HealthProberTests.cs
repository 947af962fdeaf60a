using Microsoft.Extensions.Time.Testing;
using Shadowing.Core.Routing;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Network;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Health;

public sealed class HealthProberTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rounds_StartEveryInterval_NotIntervalAfterTheSlowestProbe()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
        await using var p1 = await TestBackend.StartAsync("p1");
        using var hung = await UnacceptingListener.StartAsync(); // its probes wait out their Timeout
        var table = Table.For("orders", [p1]) with
        {
            Production = [.. Table.For("orders", [p1]).Production, new ProductionEndpoint { Id = "hung", Address = hung.Address.ToString(), MaxConcurrency = 10 }],
        };
        await using var router = await RouterHost.StartAsync(
            [table],
            new Dictionary<string, string?>
            {
                ["Router:ActiveHealthChecks:Interval"] = "00:00:05",
                ["Router:ActiveHealthChecks:Timeout"] = "00:00:02",
                ["Router:ActiveHealthChecks:UnhealthyThreshold"] = "1",
            },
            time: time);
        await Eventually.WaitUntilAsync(() => p1.HealthChecks >= 1, "the first round probed p1", cancellationToken: Ct);

        // The hung endpoint's probe times out 2 s into the round, which then ends.
        time.Advance(TimeSpan.FromSeconds(2));
        await Eventually.WaitUntilAsync(async () => !await router.IsAvailableAsync("hung"), "the hung endpoint's probe timed out", cancellationToken: Ct);
        var first = p1.HealthChecks;

        // The next round is due 5 s after the first started, 3 s from here; waiting Interval after the round ended would
        // take 5. Stepped up to 4 s, so a wait registered a moment after the round ended is still met.
        for (var step = 0; step < 40 && p1.HealthChecks == first; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, Ct);
        }

        await Eventually.WaitUntilAsync(() => p1.HealthChecks > first, "the second round started within 4 s of the first round's end", TimeSpan.FromSeconds(5), cancellationToken: Ct);
    }
}
