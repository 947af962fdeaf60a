using System.Globalization;
using Shadowing.Core.State;

namespace Shadowing.Core.Diagnostics;

/// <summary>One operator action: who, when, what, on what.</summary>
/// <param name="At">When it was done.</param>
/// <param name="Actor">Who did it, as the surface knows them (a signed-in principal, a user name, a claimed name and an address).</param>
/// <param name="Action">What: <c>start-shadows</c>, <c>promote</c>, <c>raise-event</c>, <c>terminate</c>, <c>put-events</c>, <c>kill-switch</c>, <c>apply-routes</c>, …</param>
/// <param name="Target">On what: a service, a shadow, a workflow instance.</param>
/// <param name="Detail">The parameters that matter (an event name, a count, a target state); never a body or a credential.</param>
public sealed record AuditEntry(DateTimeOffset At, string Actor, string Action, string Target, string Detail);

/// <summary>
/// The audit log of operator actions, in the state store at <c>audit/{yyyy-MM-dd}/{HHmmss.fffffff}-{n}</c> (UTC), so it
/// is kept with the state it explains and read back by day. Entries are created, never overwritten.
/// </summary>
public sealed class AuditLog(IStateStore store, TimeProvider time)
{
    /// <summary>The prefix of every entry.</summary>
    public const string Prefix = "audit/";

    /// <summary>Records an action; returns the entry.</summary>
    public async Task<AuditEntry> RecordAsync(string actor, string action, string target, string detail, CancellationToken cancellationToken = default)
    {
        var entry = new AuditEntry(time.GetUtcNow(), Clean(actor), action, target, detail);
        var stamp = entry.At.UtcDateTime.ToString("HHmmss.fffffff", CultureInfo.InvariantCulture);
        for (var n = 0; ; n++)
        {
            // Two actions in the same tick (two replicas) get the next number: entries are created, never replaced.
            if (await store.TryCreateJsonAsync($"{DayPrefix(DateOnly.FromDateTime(entry.At.UtcDateTime))}{stamp}-{n}", entry, cancellationToken).ConfigureAwait(false))
            {
                return entry;
            }
        }
    }

    /// <summary>The entries of one UTC day, oldest first.</summary>
    public async Task<IReadOnlyList<AuditEntry>> ListAsync(DateOnly day, CancellationToken cancellationToken = default)
    {
        var entries = new List<AuditEntry>();
        foreach (var key in (await store.ListKeysAsync(DayPrefix(day), cancellationToken).ConfigureAwait(false)).Order(StringComparer.Ordinal))
        {
            if ((await store.GetJsonAsync<AuditEntry>(key, cancellationToken).ConfigureAwait(false))?.Value is { } entry)
            {
                entries.Add(entry);
            }
        }

        return entries;
    }

    private static string DayPrefix(DateOnly day) => Prefix + day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "/";

    /// <summary>An actor as given, kept to one printable line of at most 200 characters (it may come from a request header).</summary>
    private static string Clean(string actor)
    {
        var printable = new string([.. (actor ?? string.Empty).Where(c => !char.IsControl(c))]).Trim();
        return printable.Length == 0 ? "unknown" : printable.Length > 200 ? printable[..200] : printable;
    }
}
