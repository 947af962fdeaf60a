using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli;

/// <summary>
/// <c>shadowing</c> as a command-line application: strict parsing (an unknown option or argument is an error),
/// <c>--version</c>, and one exit-code scheme, <see cref="ExitCodes"/>, with every failure reported on one line
/// by <see cref="CliErrors"/> (the stack trace only with <c>--verbose</c>).
/// </summary>
internal static class CliApp
{
    /// <summary>The width output to a pipe or a file is laid out for.</summary>
    public const int RedirectedWidth = 250;

    public static Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        if (Console.IsOutputRedirected)
        {
            // A pipe or a file has no width, and Spectre then wraps at 80 columns: ids, paths and URLs broke mid-word in
            // what people grep and copy. Tables are as wide as their content, so this only stops the wrapping.
            AnsiConsole.Profile.Width = RedirectedWidth;
        }

        var app = new CommandApp();
        app.Configure(config =>
        {
            ShadowingCommands.Configure(config);
            config.UseStrictParsing();
            config.UseAssemblyInformationalVersion();
            config.SetExceptionHandler((error, _) => CliErrors.Report(error, args, Console.Error));
        });
        return app.RunAsync(args, cancellationToken);
    }
}

/// <summary>Exit codes of every <c>shadowing</c> command.</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>The command was right but its work failed (a port in use, a store that does not answer, an unexpected error).</summary>
    public const int Failure = 1;

    /// <summary>The invocation or its input is wrong: an unknown or malformed option, a missing or invalid file, a bad setting.</summary>
    public const int Usage = 2;
}

/// <summary>The command line or an input named by it is wrong; the message says which option, file, row or key.</summary>
internal sealed class UsageException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>A command could not start its work (a port in use, a child process that did not come up); the message says why.</summary>
internal sealed class StartFailedException(string message, Exception? innerException = null) : Exception(message, innerException);
