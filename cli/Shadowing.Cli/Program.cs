using Shadowing.Cli;
using Shadowing.Hosting;

// The commands that run for hours start again with glibc's arenas capped; the others only stop further arenas.
MallocArenas.Apply(restart: args.Length > 0 && args[0] is "up" or "demo" or "sample-endpoint");

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C asks the command to stop cleanly; a second one ends the process at once, for a step that does
    // not watch the token.
    e.Cancel = !cancel.IsCancellationRequested;
    cancel.Cancel();
};

return await CliApp.RunAsync(args, cancel.Token);
