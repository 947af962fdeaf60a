using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Shadowing.Core.TimeSeries;
using Shadowing.Router.Hosting;
using Shadowing.Router.Routing;
using Spectre.Console.Cli;

namespace Shadowing.Cli;

/// <summary>
/// Turns whatever ended a command into one line on standard error and an <see cref="ExitCodes">exit code</see>:
/// usage and input errors name the option, file, row or key (with a "did you mean" for a misspelt option or
/// command); unexpected failures say what failed. The stack trace is printed only with <c>--verbose</c>.
/// </summary>
internal static partial class CliErrors
{
    /// <summary>The option that asks for details on failure.</summary>
    public const string Verbose = "--verbose";

    public static int Report(Exception error, IReadOnlyList<string> args, TextWriter console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var (code, message) = Describe(error, args);
        console.WriteLine("Error: " + message);
        if (args.Contains(Verbose, StringComparer.Ordinal))
        {
            console.WriteLine(error.ToString());
        }
        else if (code == ExitCodes.Failure && error is not (OperationCanceledException or StartFailedException or Core.Validation.PromotionRefusedException))
        {
            console.WriteLine($"(run again with {Verbose} for details)");
        }

        return code;
    }

    /// <summary>The exit code and message for <paramref name="error"/>.</summary>
    public static (int Code, string Message) Describe(Exception error, IReadOnlyList<string> args)
    {
        var command = CommandOf(args);
        return error switch
        {
            CommandParseException parse => (ExitCodes.Usage, DescribeParse(parse.Message, args, command)),
            CommandRuntimeException runtime => (ExitCodes.Usage, DescribeRuntime(runtime.Message, args, command)),
            UsageException or TimeSeriesFormatException or RoutesFileException => (ExitCodes.Usage, error.Message),
            FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => (ExitCodes.Usage, error.Message),
            StartFailedException or Core.Validation.PromotionRefusedException => (ExitCodes.Failure, error.Message),
            OperationCanceledException => (ExitCodes.Failure, "cancelled."),
            _ when RouterHost.Describe(error) is { } start => (start.Code, start.Message),
            _ => (ExitCodes.Failure, $"{error.GetType().Name}: {error.Message}"),
        };
    }

    private static string DescribeParse(string message, IReadOnlyList<string> args, string? command)
    {
        var commandName = command is null ? "shadowing" : $"shadowing {command}";
        if (UnknownOption().Match(message) is { Success: true } option)
        {
            var name = option.Groups[1].Value;
            var token = args.FirstOrDefault(a => a.TrimStart('-').Split('=')[0] == name) ?? (name.Length == 1 ? "-" + name : "--" + name);
            var known = command is not null && ShadowingCommands.Settings.TryGetValue(command, out var settings) ? LongOptions(settings) : [];
            var suggestion = Closest(token.Split('=')[0], known);
            return suggestion is not null
                ? $"unknown option '{token}' for '{commandName}'. Did you mean '{suggestion}'?"
                : $"unknown option '{token}' for '{commandName}'. See '{commandName} --help'.";
        }

        if (UnknownCommand().Match(message) is { Success: true } unknown)
        {
            var name = unknown.Groups[1].Value;
            if (command is not null)
            {
                return $"unexpected argument '{name}' for '{commandName}': it takes options only (see '{commandName} --help').";
            }

            var suggestion = Closest(name, ShadowingCommands.Settings.Keys.Where(k => k != ShadowingCommands.Hidden));
            return suggestion is not null
                ? $"unknown command '{name}'. Did you mean '{suggestion}'?"
                : $"unknown command '{name}'. See 'shadowing --help'.";
        }

        return Lower(message);
    }

    private static string DescribeRuntime(string message, IReadOnlyList<string> args, string? command)
    {
        if (ConversionFailed().Match(message) is not { Success: true } conversion)
        {
            return Lower(message);
        }

        var value = conversion.Groups[1].Value;
        var type = conversion.Groups[2].Value;
        var valid = conversion.Groups[3].Success ? conversion.Groups[3].Value.Replace("'", string.Empty, StringComparison.Ordinal).ToLowerInvariant() : null;
        var options = command is not null && ShadowingCommands.Settings.TryGetValue(command, out var settings) ? Options(settings) : [];

        // Spectre reports an option given without its value as a failure to convert a placeholder.
        if (value == "__default_command")
        {
            var bare = args.Select((a, i) => (a, i)).LastOrDefault(x => x.a.StartsWith('-') && (x.i == args.Count - 1 || args[x.i + 1].StartsWith('-')) && options.Any(o => o.Names.Contains(x.a) && o.TakesValue));
            return bare.a is not null ? $"option '{bare.a}' needs a value." : "an option is missing its value.";
        }

        // Every option given this value; the one whose type the message names when several are (--horizon 1 --duplicates 1).
        var given = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (i > 0 && args[i] == value && args[i - 1].StartsWith('-'))
            {
                given.Add(args[i - 1]);
            }
            else if (args[i].StartsWith('-') && args[i].EndsWith("=" + value, StringComparison.Ordinal))
            {
                given.Add(args[i][..args[i].IndexOf('=', StringComparison.Ordinal)]); // --start-index=abc
            }
        }

        var option = given.Count > 1 && command is not null && ShadowingCommands.Settings.TryGetValue(command, out var declaring)
            ? given.FirstOrDefault(o => OptionType(declaring, o) is { } t && (Nullable.GetUnderlyingType(t) ?? t).Name == type) ?? given[0]
            : given.FirstOrDefault();

        if (type.Contains('`', StringComparison.Ordinal) && option is not null && command is not null && OptionType(ShadowingCommands.Settings[command], option) is { } declared)
        {
            // Spectre names a nullable option's type Nullable`1: the type the option takes is the one inside.
            type = (Nullable.GetUnderlyingType(declared) ?? declared).Name;
        }

        var what = valid is not null ? $"not one of {valid}" : $"not {Describe(type)}";
        return option is not null ? $"option '{option}': '{value}' is {what}." : $"'{value}' is {what}.";
    }

    private static string Describe(string type) => type switch
    {
        "Int32" or "Int64" or "Int16" => "a whole number",
        "Double" or "Single" or "Decimal" => "a number",
        "TimeSpan" => "a duration such as 00:05:00",
        "Boolean" => "true or false",
        _ => "a valid " + type,
    };

    /// <summary>The command named on the command line (the first token that is not an option), if it is one of ours.</summary>
    private static string? CommandOf(IReadOnlyList<string> args) =>
        args.Count > 0 && ShadowingCommands.Settings.ContainsKey(args[0]) ? args[0] : null;

    private static IReadOnlyList<(string[] Names, bool TakesValue)> Options(Type settings) =>
        [.. settings.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.GetCustomAttribute<CommandOptionAttribute>())
            .OfType<CommandOptionAttribute>()
            .Select(o => (o.LongNames.Select(n => "--" + n).Concat(o.ShortNames.Select(n => "-" + n)).ToArray(), o.ValueName is not null))];

    private static Type? OptionType(Type settings, string option) =>
        settings.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .FirstOrDefault(p => p.GetCustomAttribute<CommandOptionAttribute>() is { } o
                && o.LongNames.Select(n => "--" + n).Concat(o.ShortNames.Select(n => "-" + n)).Contains(option))?.PropertyType;

    private static IReadOnlyList<string> LongOptions(Type settings) => [.. Options(settings).SelectMany(o => o.Names.Where(n => n.StartsWith("--", StringComparison.Ordinal))), "--help"];

    /// <summary>The candidate closest to <paramref name="token"/> by edit distance, if it is close enough to be a typo.</summary>
    internal static string? Closest(string token, IEnumerable<string> candidates)
    {
        var best = candidates
            .Select(c => (Candidate: c, Distance: Distance(token, c)))
            .OrderBy(x => x.Distance)
            .FirstOrDefault();
        var limit = Math.Max(1, token.TrimStart('-').Length / 3);
        return best.Candidate is not null && best.Distance <= limit ? best.Candidate : null;
    }

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1));
                diagonal = above;
            }
        }

        return row[b.Length];
    }

    private static string Lower(string message) =>
        message.Length > 1 && char.IsUpper(message[0]) && !char.IsUpper(message[1]) ? char.ToLower(message[0], CultureInfo.InvariantCulture) + message[1..] : message;

    [GeneratedRegex("^Unknown option '([^']+)'")]
    private static partial Regex UnknownOption();

    [GeneratedRegex("^Unknown command '([^']+)'")]
    private static partial Regex UnknownCommand();

    [GeneratedRegex(@"^Failed to convert '(.*)' to ([\w.`]+)\.(?: Valid values are (.*))?")]
    private static partial Regex ConversionFailed();
}
