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
        // A second Ctrl-C ends the process at once, for a stop that hangs (nothing written first: a blocked standard
        // error would hold it). Not by leaving e.Cancel false: a host's console lifetime (up, demo) cancels every SIGINT
        // itself while it runs, and Environment.Exit would wait for that host.
        System.Diagnostics.Process.GetCurrentProcess().Kill();
    }

    try
    {
        cancel.Cancel();
    }
    catch (ObjectDisposedException)
    {
        // Ctrl-C as the command returns: nothing left to stop.
    }
};

return await CliApp.RunAsync(args, cancel.Token);
