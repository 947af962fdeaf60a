using System.Collections.Concurrent;
using Dapr.Client;
using Shadowing.Core.Data;
using Shadowing.Core.State;

namespace Shadowing.Dapr.State;

/// <summary>
/// Each service's production data through its own component, <c>data-{service}</c> (<see cref="DaprComponents.DataStore"/>),
/// the one its apps write through with the outbox. Read by key only: its keys are listed from the change feed.
/// </summary>
public sealed class DaprProductionData(DaprClient dapr, TimeProvider time) : IProductionData
{
    private readonly ConcurrentDictionary<string, DaprStateStore> _stores = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public IStateStore Of(string service) =>
        _stores.GetOrAdd(service, s => new DaprStateStore(dapr, time, DaprComponents.DataStore(s), listed: false));
}
