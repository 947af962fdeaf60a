using System.Text;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Shadowing.Router.Hosting;

/// <summary>Options of the compact console format (section <c>Logging:Console:FormatterOptions</c>; timestamps are not printed).</summary>
public sealed class CompactConsoleFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>Print exceptions with their stack traces. Default false: one line per entry, the exception's type and message only.</summary>
    public bool StackTraces { get; set; }
}

/// <summary>
/// One line per log entry: level, short category, event id, message and, for an exception, its type and message
/// (with inner exceptions), so that an expected failure (an endpoint down, a client that hung up) never floods the
/// console with stack traces. <see cref="CompactConsoleFormatterOptions.StackTraces"/> brings them back.
/// </summary>
public sealed class CompactConsoleFormatter(IOptionsMonitor<CompactConsoleFormatterOptions> options) : ConsoleFormatter(Name)
{
    /// <summary>The formatter's name in <c>Logging:Console:FormatterName</c>.</summary>
    public new const string Name = "shadowing";

    /// <inheritdoc />
    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        ArgumentNullException.ThrowIfNull(textWriter);
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        var current = options.CurrentValue;
        var line = new StringBuilder();
        var category = logEntry.Category;
        line.Append(Level(logEntry.LogLevel)).Append(": ").Append(category[(category.LastIndexOf('.') + 1)..]);
        if (logEntry.EventId.Id != 0)
        {
            line.Append('[').Append(logEntry.EventId.Id).Append(']');
        }

        line.Append(' ').Append(message);
        if (logEntry.Exception is { } error)
        {
            if (current.StackTraces)
            {
                line.AppendLine().Append(error);
            }
            else
            {
                for (var e = error; e is not null; e = e.InnerException)
                {
                    line.Append(" | ").Append(e.GetType().Name).Append(": ").Append(e.Message.ReplaceLineEndings(" "));
                }
            }
        }

        textWriter.WriteLine(line.ToString());
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}

/// <summary>Console logging as every Shadowing host does it.</summary>
public static class ShadowingLogging
{
    /// <summary>
    /// Levels that apply unless configuration says otherwise (they sit below every other configuration source), so
    /// a host started away from its appsettings.json is as quiet as one started beside it. YARP's own forwarding
    /// errors are off: the router logs each failure itself, once, with the service and endpoint.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> DefaultLevels { get; } = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Microsoft.Extensions.Hosting"] = "Warning",

        // While this category logs at any level, ASP.NET Core starts an Activity for every request (for its log
        // scopes), and the forwarding HttpClient a child one whose traceparent it writes into the forwarded request.
        // Nothing here exports traces, so that was work for nothing on every request (README, "Reliability"); a
        // tracing listener, when one is added, still gets its activities. The category's own records go too:
        // request start and finish at Information, and startup errors that the host reports itself.
        ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "None",

        // "Hosting failed to start" repeats, with a stack trace, the start failure the host then reports in one line.
        ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning",
        ["Logging:LogLevel:Yarp"] = "Warning",
        ["Logging:LogLevel:Yarp.ReverseProxy.Forwarder.HttpForwarder"] = "None",
        ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
        ["Logging:LogLevel:Grpc"] = "Warning",
    };

    /// <summary>
    /// Adds <see cref="DefaultLevels"/> beneath the existing configuration sources and logs to the console in the
    /// <see cref="CompactConsoleFormatter">compact format</see>; <paramref name="verbose"/> logs at Debug with stack traces.
    /// </summary>
    public static void AddShadowingLogging(this IHostApplicationBuilder builder, bool verbose = false)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = DefaultLevels });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.FormatterName = CompactConsoleFormatter.Name);
        builder.Logging.AddConsoleFormatter<CompactConsoleFormatter, CompactConsoleFormatterOptions>(o =>
        {
            if (verbose)
            {
                o.StackTraces = true;
            }
        });
        if (verbose)
        {
            // Filters added in code, not configuration: a configuration file added after this call (up's --config, whose
            // shipped file sets Shadowing to Information) would otherwise win. A rule registered later wins over one
            // from configuration for the same category.
            builder.Logging.AddFilter((string?)null, LogLevel.Information);
            builder.Logging.AddFilter("Shadowing", LogLevel.Debug);
        }
    }
}
