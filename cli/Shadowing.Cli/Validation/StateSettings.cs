using System.ComponentModel;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.State;
using Shadowing.Embedded;
using Shadowing.Embedded.Messaging;
using Shadowing.Embedded.State;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Validation;

/// <summary>Commands that read and write the embedded store the router of <c>up</c> uses.</summary>
internal class StateSettings : CommonSettings
{
    [CommandOption("--state <PATH>")]
    [Description("SQLite state file of the embedded host (default .shadowing/state.db, as up uses). A running up picks changes up at its next routing-table poll.")]
    public string State { get; init; } = new EmbeddedOptions().StatePath;

    /// <summary>Opens the store (which must exist: a typo must not create an empty one) and a bus for this process.</summary>
    public (SqliteStateStore Store, InProcessEventBus Bus) Open()
    {
        if (!File.Exists(State))
        {
            throw new UsageException($"--state: '{State}' does not exist (looked for {Path.GetFullPath(State)}); run shadowing up first, or name its state file.");
        }

        SqliteStateStore store;
        try
        {
            store = new SqliteStateStore(State, TimeProvider.System);
        }
        catch (StateStoreException ex) when (ex.InnerException is Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 26 })
        {
            // SQLITE_NOTADB: the wrong file named. A database locked by a running up, or read-only, is not a usage error.
            throw new UsageException($"--state: '{State}' is not a SQLite state file: {ex.InnerException.Message}", ex);
        }

        var bus = new InProcessEventBus(store, TimeProvider.System, Options.Create(new InProcessEventBusOptions()), NullLogger<InProcessEventBus>.Instance);
        return (store, bus);
    }
}

/// <summary>Disposes what <see cref="StateSettings.Open"/> opened.</summary>
internal static class OpenedState
{
    public static async Task CloseAsync(this (SqliteStateStore Store, InProcessEventBus Bus) state)
    {
        await state.Bus.DisposeAsync().ConfigureAwait(false);
        state.Store.Dispose();
    }

    public static IStateStore AsStore(this (SqliteStateStore Store, InProcessEventBus Bus) state) => state.Store;

    public static IEventBus AsBus(this (SqliteStateStore Store, InProcessEventBus Bus) state) => state.Bus;
}
