using Shadowing.Core.State;
using Shadowing.Embedded.State;
using Shadowing.TestUtilities.State;

namespace Shadowing.Embedded.Tests.State;

public sealed class SqliteStateStoreTests : StateStoreContractTests
{
    protected override Task<IStateStore> CreateStoreAsync() =>
        Task.FromResult<IStateStore>(new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System));

    [Fact]
    public async Task Save_ToFile_SurvivesReopening()
    {
        var path = Path.Combine(Path.GetTempPath(), $"shadowing-{Guid.NewGuid():N}", "state.db");
        try
        {
            using (var store = new SqliteStateStore(path, TimeProvider.System))
            {
                await store.SaveAsync("routing/orders", Bytes("v1"), null, Ct);
            }

            using var reopened = new SqliteStateStore(path, TimeProvider.System);
            var item = await reopened.GetAsync("routing/orders", Ct);
            Assert.Equal("v1", Text(item!.Value));

            // The ETag sequence continues across restarts, so an ETag read before never matches a later write.
            await reopened.SaveAsync("routing/orders", Bytes("v2"), item.ETag, Ct);
            await Assert.ThrowsAsync<StateConflictException>(() => reopened.SaveAsync("routing/orders", Bytes("v3"), item.ETag, Ct));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Prune_FindsItsCutoffThroughAnIndex_NotByReadingTheWholeLog()
    {
        // The query PruneAsync runs under the write lock each maintenance tick, against a store opened (and so migrated) by it.
        var path = Path.Combine(Path.GetTempPath(), $"shadowing-{Guid.NewGuid():N}", "state.db");
        try
        {
            new SqliteStateStore(path, TimeProvider.System).Dispose();
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False");
            connection.Open();
            using var plan = connection.CreateCommand();
            plan.CommandText = "EXPLAIN QUERY PLAN " + SqliteStateStore.PruneCutoffQuery;
            plan.Parameters.AddWithValue("$cutoff", "2026-12-01T00:00:00.0000000+00:00");
            using var reader = plan.ExecuteReader();
            var steps = new List<string>();
            while (reader.Read())
            {
                steps.Add(reader.GetString(3));
            }

            Assert.Contains(steps, s => s.Contains("USING COVERING INDEX changes_at", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Open_UnwritablePath_ThrowsStateStoreExceptionNamingThePath()
    {
        var error = Assert.Throws<StateStoreException>(() => new SqliteStateStore("/proc/shadowing/state.db", TimeProvider.System));

        Assert.Contains("/proc/shadowing/state.db", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_AfterDispose_ThrowsObjectDisposed()
    {
        var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        store.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetAsync("routing/x", Ct));
    }
}
