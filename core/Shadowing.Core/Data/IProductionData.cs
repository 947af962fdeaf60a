using Shadowing.Core.State;

namespace Shadowing.Core.Data;

/// <summary>
/// Where a service's production data (<c>data/{service}/…</c>) is read from to copy it to shadows. With Dapr, each
/// service's data has a state store component of its own (<c>data-{service}</c>, keys of its own), so the production apps
/// that load it reach their data and nothing of Shadowing's (routing tables, plans); embedded, it is the one store.
/// </summary>
public interface IProductionData
{
    /// <summary>The store holding <paramref name="service"/>'s production data.</summary>
    IStateStore Of(string service);
}
