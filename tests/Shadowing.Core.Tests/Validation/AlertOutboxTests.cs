using Microsoft.Extensions.Time.Testing;
using NSubstitute.ClearExtensions;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Core.Validation;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.Validation;

public sealed class AlertOutboxTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private readonly InMemoryStateStore _store = new();
    private readonly IEventBus _bus = Substitute.For<IEventBus>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AFailingVerdict_WhileTheBusIsDown_IsStored_AndItsAlertSentOnceTheBusIsBack()
    {
        _bus.PublishAsync(Topics.Alerts, Arg.Any<Alert>(), Arg.Any<CancellationToken>()).Returns(_ => throw new EventBusException("pub/sub unavailable"));
        var verdict = new ShadowVerdict { Service = "orders", Shadow = "s1", Verdict = Verdict.Fail, Reasons = ["errorRate: more errors"], Metrics = [], From = Now.AddMinutes(-10), To = Now, JudgedAt = Now };

        // The verdict step does not fail with the bus: the verdict is stored, the alert kept.
        await new ShadowValidator(_store, _bus, new FakeTimeProvider(Now)).RecordAsync(verdict, cancellationToken: Ct);

        Assert.NotNull(await _store.GetAsync(StateKeys.Verdict("orders", "s1"), Ct));
        var kept = Assert.Single(await _store.ListKeysAsync(AlertOutbox.PendingPrefix, Ct));
        var outbox = new AlertOutbox(_store, _bus);
        await Assert.ThrowsAsync<EventBusException>(() => outbox.FlushAsync(Ct)); // still down: kept for the next tick
        Assert.Equal([kept], await _store.ListKeysAsync(AlertOutbox.PendingPrefix, Ct));

        _bus.ClearSubstitute(ClearOptions.All); // the bus is back
        Assert.Equal(1, await outbox.FlushAsync(Ct));

        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Kind == AlertKind.ValidationFailed && a.Endpoint == "s1" && a.At == Now), Arg.Any<CancellationToken>());
        Assert.Empty(await _store.ListKeysAsync(AlertOutbox.PendingPrefix, Ct));
        Assert.Equal(0, await outbox.FlushAsync(Ct));
    }

    [Fact]
    public async Task Flush_AnUnreadableKeptAlert_IsDropped_AndDoesNotHoldUpTheOthers()
    {
        var kept = new Alert { Kind = AlertKind.ShadowFailed, Service = "orders", Endpoint = "s1", At = Now };
        await _store.SaveAsync(AlertOutbox.PendingPrefix + "0-unreadable", "{not json"u8.ToArray(), etag: null, Ct);
        await _store.SaveJsonAsync(AlertOutbox.PendingPrefix + AlertOutbox.IdOf(kept), kept, cancellationToken: Ct);

        Assert.Equal(1, await new AlertOutbox(_store, _bus).FlushAsync(Ct));

        await _bus.Received(1).PublishAsync(Topics.Alerts, Arg.Is<Alert>(a => a.Endpoint == "s1"), Arg.Any<CancellationToken>());
        Assert.Empty(await _store.ListKeysAsync(AlertOutbox.PendingPrefix, Ct));
    }
}
