using Shadowing.Cli;
using Shadowing.Hosting;

// The commands that run for hours start again with glibc's arenas capped; the others only stop further arenas.
MallocArenas.Apply(restart: args.Length > 0 && args[0] is "up" or "demo" or "sample-endpoint");

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    if (cancel.IsCancellationRequested)
    {
        // A second Ctrl-C ends the process at once, for a stop that hangs. Not by leaving e.Cancel false: a host's
        // console lifetime (up, demo) cancels every SIGINT itself while it runs, and Environment.Exit would wait for it.
        Console.Error.WriteLine("Stopped at once (second Ctrl-C).");
        System.Diagnostics.Process.GetCurrentProcess().Kill();
    }

    cancel.Cancel();
};

return await CliApp.RunAsync(args, cancel.Token);
