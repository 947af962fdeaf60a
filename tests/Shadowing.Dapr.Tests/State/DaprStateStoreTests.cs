using Grpc.Core;
using Shadowing.Core.State;
using Shadowing.Dapr.State;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.State;

namespace Shadowing.Dapr.Tests.State;

/// <summary>The shared adapter suite, run over the wire with the real DaprClient against the fake sidecar.</summary>
public sealed class DaprStateStoreTests : StateStoreContractTests
{
    private FakeDaprSidecar? _sidecar;

    private FakeDaprSidecar Sidecar => _sidecar!;

    protected override async Task<IStateStore> CreateStoreAsync()
    {
        _sidecar = await FakeDaprSidecar.StartAsync();
        return new DaprStateStore(_sidecar.CreateClient());
    }

    protected override async ValueTask DisposeStoreAsync(IStateStore store)
    {
        if (_sidecar is not null)
        {
            await _sidecar.DisposeAsync();
        }
    }

    [Fact]
    public async Task Save_SidecarStoreFails_ThrowsStateStoreExceptionWithDaprStatus()
    {
        Sidecar.State.Fault = _ => new RpcException(new Status(StatusCode.Unavailable, "redis: connection refused"));

        var error = await Assert.ThrowsAsync<StateStoreException>(() => Store.SaveAsync("routing/orders", Bytes("1"), null, Ct));

        Assert.IsNotType<StateConflictException>(error);
        Assert.Contains("redis: connection refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transact_FailsInStore_ThrowsStateStoreExceptionAndAppliesNothing()
    {
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        Sidecar.State.Fault = method => method == "ExecuteStateTransaction" ? new RpcException(new Status(StatusCode.Internal, "error while executing state transaction: redis: MULTI failed")) : null;

        var error = await Assert.ThrowsAsync<StateStoreException>(() => Store.TransactAsync([StateOperation.Upsert("k/a", Bytes("2")), StateOperation.Upsert("k/b", Bytes("2"))], Ct));

        Assert.IsNotType<StateConflictException>(error);
        Sidecar.State.Fault = null;
        Assert.Equal("1", Text((await Store.GetAsync("k/a", Ct))!.Value));
        Assert.Null(await Store.GetAsync("k/b", Ct));
    }

    [Fact]
    public async Task Save_StaleETag_SidecarSaw_TransactionWithETag()
    {
        // The conflict must come from the sidecar's own ETag check, not from a client-side guess.
        await Store.SaveAsync("k/a", Bytes("1"), null, Ct);
        var stale = (await Store.GetAsync("k/a", Ct))!.ETag;
        await Store.SaveAsync("k/a", Bytes("2"), null, Ct);
        var before = Sidecar.State.Calls.GetValueOrDefault("ExecuteStateTransaction");

        await Assert.ThrowsAsync<StateConflictException>(() => Store.SaveAsync("k/a", Bytes("3"), stale, Ct));

        Assert.Equal(before + 1, Sidecar.State.Calls["ExecuteStateTransaction"]);
    }

    [Fact]
    public async Task Save_KeepsIndexDocumentsUnderReservedPrefix()
    {
        await Store.SaveAsync("metrics/orders/a/2026-01-01", Bytes("1"), null, Ct);

        Assert.Contains("$index/metrics/orders/a/", Sidecar.State.Keys);
        Assert.Contains("metrics/orders/a/2026-01-01", Sidecar.State.Keys);
    }
}
