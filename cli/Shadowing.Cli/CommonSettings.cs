using System.ComponentModel;
using Spectre.Console.Cli;

namespace Shadowing.Cli;

/// <summary>Options every command takes.</summary>
internal class CommonSettings : CommandSettings
{
    [CommandOption(CliErrors.Verbose)]
    [Description("On failure, print the details (stack trace); for up, also log at Debug level with stack traces.")]
    public bool Verbose { get; init; }
}
