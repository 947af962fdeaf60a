using System.ComponentModel;
using System.Text.Json;
using Shadowing.Cli.Validation;
using Shadowing.Core.Routing;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;
using Shadowing.Router.Routing;
using Shadowing.Workflows.Activities;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Control;

/// <summary>
/// <c>shadowing routes validate|diff|apply FILE</c>: checks a routing file (the router's <c>--routes</c> format), shows
/// what applying it would change in the store, and applies it. Shadows are runtime state SEP owns: a stored shadow the
/// file does not name is kept, so applying a file never pulls a warm shadow out from under its workflow, and a
/// workflow-run shadow the file does name keeps its stored entry (a file exported from the live table carries its state
/// as it was then: applied later, a Retired shadow would come back PreWarmed and take failover traffic).
/// </summary>
internal sealed class RoutesCommand : AsyncCommand<RoutesCommand.Settings>
{
    public sealed class Settings : StateSettings
    {
        [CommandArgument(0, "<validate|diff|apply>")]
        [Description("validate the file; diff it against the store; apply it to the store.")]
        public string Action { get; init; } = string.Empty;

        [CommandArgument(1, "<FILE>")]
        [Description("Routing file, YAML or JSON (the router's --routes format).")]
        public string File { get; init; } = string.Empty;

        public override ValidationResult Validate() =>
            Action is "validate" or "diff" or "apply" ? ValidationResult.Success() : ValidationResult.Error($"<validate|diff|apply>: '{Action}' is none of validate, diff, apply");
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        IReadOnlyList<RoutingTable> file;
        try
        {
            file = RoutesFile.Load(settings.File);
        }
        catch (RoutesFileException ex)
        {
            throw new UsageException(ex.Message, ex);
        }

        // The file's tables are written whole: held to the rules a stored table is not (RoutingTableValidator.ValidateNew).
        if (file.SelectMany(t => RoutingTableValidator.ValidateNew(t).Select(e => $"service '{t.Service}': {e}")).ToList() is { Count: > 0 } refused)
        {
            throw new UsageException($"{settings.File} is invalid:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", refused)}");
        }

        if (settings.Action == "validate")
        {
            AnsiConsole.MarkupLineInterpolated($"{settings.File}: valid; {file.Count} service(s): {string.Join(", ", file.Select(t => t.Service))}.");
            return ExitCodes.Ok;
        }

        var state = settings.Open();
        try
        {
            var tables = new RoutingTableStore(state.AsStore(), state.AsBus());

            // Every service checked before any is written: a file refused on its second service writes nothing.
            var planned = new List<(RoutingTable Wanted, RoutingTable? Stored, IReadOnlyList<string> Diff)>(file.Count);
            foreach (var wanted in file)
            {
                var stored = (await tables.GetAsync(wanted.Service, cancellationToken))?.Value;
                if (stored is null && await tables.FindCaseTwinAsync(wanted.Service, cancellationToken) is { } twin)
                {
                    throw new UsageException($"{settings.File}: service '{wanted.Service}' differs only in case from the stored service '{twin}' (the router matches service names ignoring case); name it '{twin}'");
                }

                var merged = Merge(stored, wanted);

                // Checked with the shadows it keeps, as apply would write it: diff fails where apply would.
                if (RoutingTableValidator.Validate(merged) is { Count: > 0 } invalid)
                {
                    throw new UsageException($"{settings.File}: service '{wanted.Service}' with the stored shadows it keeps:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", invalid)}");
                }

                foreach (var id in SepsOwn(stored, wanted))
                {
                    AnsiConsole.MarkupLineInterpolated($"{wanted.Service}: shadow {id} is run by workflow {stored!.Shadows.First(s => s.Id == id).Owner}; its stored entry stands, not the file's.");
                }

                planned.Add((wanted, stored, Diff(stored is null ? [] : Lines(stored), Lines(merged))));
            }

            var changes = 0;
            foreach (var (wanted, stored, diff) in planned)
            {
                if (diff.Count == 0)
                {
                    if (settings.Action == "apply")
                    {
                        await KeepAsSepsBeforeAsync(state.AsStore(), wanted, cancellationToken);
                    }

                    AnsiConsole.MarkupLineInterpolated($"{wanted.Service}: unchanged");
                    continue;
                }

                changes++;
                AnsiConsole.MarkupLineInterpolated($"{wanted.Service}: {(stored is null ? "new" : "changed")}");
                if (settings.Action == "diff")
                {
                    foreach (var line in diff)
                    {
                        Console.Out.WriteLine(line);
                    }

                    continue;
                }

                // The table first: a write that fails (the table changed since it was checked) leaves SEP's policy as it was.
                // (Each service is written on its own: one failing here leaves those before it written.)
                await tables.UpdateAsync(wanted.Service, current => Merge(current, wanted), cancellationToken);
                await KeepAsSepsBeforeAsync(state.AsStore(), wanted, cancellationToken);
                await new Core.Diagnostics.AuditLog(state.AsStore(), TimeProvider.System).RecordAsync($"{Environment.UserName} (cli)", "apply-routes", wanted.Service, Path.GetFileName(settings.File), cancellationToken);
            }

            if (settings.Action == "diff")
            {
                AnsiConsole.MarkupLineInterpolated($"{changes} service(s) would change; shadowing routes apply {settings.File} writes them.");
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"{changes} service(s) written; a running router picks them up at its next poll.");
            }
            return ExitCodes.Ok;
        }
        finally
        {
            await state.CloseAsync();
        }
    }

    /// <summary>
    /// The file's table, keeping the stored shadows the file does not name. A kept shadow a workflow mirrors to (warming up,
    /// validating or PreWarmed, covered by the stored policy) stays covered, at the stored share, whatever the file's policy
    /// says: its workflow turned mirroring on for it, and without copies its warm-up or revalidation would starve.
    /// </summary>
    internal static RoutingTable Merge(RoutingTable? stored, RoutingTable wanted)
    {
        // Ids compare as the validator and the router compare them (ordinal): "S1" in the file is not the stored "s1".
        // In the file's order, a workflow's shadow as stored: a file exported from the table applies as unchanged.
        var owned = SepsOwn(stored, wanted);
        var fromFile = wanted.Shadows.Select(s => owned.Contains(s.Id) ? stored!.Shadows.First(x => x.Id == s.Id) : s).ToList();
        var named = fromFile.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        var kept = (stored?.Shadows ?? []).Where(s => !named.Contains(s.Id)).ToList();
        var mirror = wanted.Mirror;
        if (stored?.Mirror is { Enabled: true } on)
        {
            foreach (var shadow in kept.Concat(fromFile.Where(s => owned.Contains(s.Id))).Where(s => s.Owner is not null && s.State is ShadowState.WarmingUp or ShadowState.Validating or ShadowState.PreWarmed
                && (on.Targets.Count == 0 || on.Targets.Contains(s.Id))))
            {
                mirror = EnableMirroringActivity.Cover(mirror, shadow.Id, on.Percent);
            }
        }

        return wanted with { Shadows = [.. fromFile, .. kept], Mirror = mirror };
    }

    /// <summary>The shadows the file names that a workflow runs in the store: their stored entries stand.</summary>
    internal static IReadOnlySet<string> SepsOwn(RoutingTable? stored, RoutingTable wanted) =>
        wanted.Shadows.Where(s => stored?.Shadows.Any(x => x.Id == s.Id && x.Owner is not null) == true).Select(s => s.Id).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// While SEP mirrors to a service's shadows, the policy it puts back when they are gone is the file's from now on
    /// (whether or not the table changes). ETag-checked: one SEP deleted meanwhile (its last shadow gone) is not made again.
    /// </summary>
    private static async Task KeepAsSepsBeforeAsync(IStateStore store, RoutingTable wanted, CancellationToken cancellationToken)
    {
        var key = EnableMirroringActivity.BeforeKey(wanted.Service);
        if (await store.GetAsync(key, cancellationToken) is not { } before)
        {
            return;
        }

        try
        {
            await store.SaveJsonAsync(key, new MirrorBefore(wanted.Mirror), before.ETag, cancellationToken);
        }
        catch (StateConflictException)
        {
            // SEP put the policy back (or changed it) meanwhile: the table the file wrote is what stands.
        }
    }

    private static string[] Lines(RoutingTable table) =>
        JsonSerializer.Serialize(table, new JsonSerializerOptions(ShadowingJson.Options) { WriteIndented = true }).Split('\n');

    /// <summary>A line diff (longest common subsequence): removed lines as "- …", added as "+ …".</summary>
    internal static IReadOnlyList<string> Diff(string[] before, string[] after)
    {
        var lcs = new int[before.Length + 1, after.Length + 1];
        for (var i = before.Length - 1; i >= 0; i--)
        {
            for (var j = after.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = before[i] == after[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var lines = new List<string>();
        int a = 0, b = 0;
        while (a < before.Length || b < after.Length)
        {
            if (a < before.Length && b < after.Length && before[a] == after[b])
            {
                a++;
                b++;
            }
            else if (b < after.Length && (a == before.Length || lcs[a, b + 1] >= lcs[a + 1, b]))
            {
                lines.Add("+ " + after[b++]);
            }
            else
            {
                lines.Add("- " + before[a++]);
            }
        }

        return lines;
    }
}
