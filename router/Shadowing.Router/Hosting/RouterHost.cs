using Microsoft.Extensions.Options;
using Shadowing.Core.Routing;
using Shadowing.Hosting;
using Shadowing.Router.Routing;

namespace Shadowing.Router.Hosting;

/// <summary>
/// The router as a process: builds it, runs it until stopped, and turns expected start failures into one line on
/// standard error and an exit code (2: a bad setting or routing file; 1: it could not start, for example a port in
/// use), never a stack trace.
/// </summary>
public static partial class RouterHost
{
    /// <summary>Runs the router with command-line <paramref name="args"/>; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        MallocArenas.Apply(restart: true);
        try
        {
            // appsettings.json is read from beside the executable, so the router behaves the same from any working directory.
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
            builder.AddShadowingLogging();
            builder.AddShadowingRouter();
            await using var app = builder.Build();
            app.MapShadowingRouter();
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (Describe(ex) is { } failure)
        {
            await Console.Error.WriteLineAsync($"router: {failure.Message}").ConfigureAwait(false);
            return failure.Code;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Anything else at start (a state folder it cannot write, a store that cannot open): one line and exit 1, not
            // an unhandled exception's stack trace and abort.
            await Console.Error.WriteLineAsync($"router: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>The exit code and message of an expected start failure, or null for an unexpected one.</summary>
    public static (int Code, string Message)? Describe(Exception error) => error switch
    {
        RoutesFileException or RoutingTableValidationException => (2, error.Message),
        OptionsValidationException options => (2, "invalid setting: " + string.Join(" ", Failures(options))),
        // ValidateOnStart throws one per options class, and all of them together when more than one class fails.
        AggregateException { InnerExceptions.Count: > 0 } all when all.InnerExceptions.All(e => e is OptionsValidationException) =>
            (2, "invalid setting: " + string.Join(" ", all.InnerExceptions.Cast<OptionsValidationException>().SelectMany(Failures))),
        InvalidOperationException when error.Message.StartsWith(ShadowingModeExtensions.Key, StringComparison.Ordinal) => (2, error.Message),
        // The configuration binder's, for a value of the wrong type ("10s" for a TimeSpan): its message names the key.
        InvalidOperationException when error.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) => (2, "invalid setting: " + error.Message),
        IOException when error.Message.StartsWith("Failed to bind", StringComparison.Ordinal) => (1, error.Message),
        _ => null,
    };

    /// <summary>
    /// The failures, with ValidateDataAnnotations' ("… for 'ShadowLifecycleOptions' members: 'MirrorPercent' with the error:
    /// '…'.") naming the key (<c>Shadowing:Sep:MirrorPercent: …</c>) when the options class says its section.
    /// </summary>
    private static IEnumerable<string> Failures(OptionsValidationException error) =>
        error.OptionsType.GetField("Section", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)?.GetRawConstantValue() is not string section
            ? error.Failures
            : error.Failures.Select(f => DataAnnotationFailure().Match(f) is { Success: true } m && m.Groups["type"].Value == error.OptionsType.Name
                ? $"{section}:{m.Groups["members"].Value}: {m.Groups["error"].Value}"
                : f);

    [System.Text.RegularExpressions.GeneratedRegex(@"^DataAnnotation validation failed for '(?<type>[^']+)' members: '(?<members>[^']*)' with the error: '(?<error>.*)'\.$", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex DataAnnotationFailure();
}
