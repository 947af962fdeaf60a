using Shadowing.Core.State;
using Shadowing.TestUtilities.State;

namespace Shadowing.Core.Tests.State;

/// <summary>The shared test fake must itself keep the store contract, or tests built on it prove nothing.</summary>
public sealed class InMemoryStateStoreTests : StateStoreContractTests
{
    protected override Task<IStateStore> CreateStoreAsync() => Task.FromResult<IStateStore>(new InMemoryStateStore());
}
