using Shadowing.Cli;
using Spectre.Console.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var app = new CommandApp();
app.Configure(ShadowingCommands.Configure);
return await app.RunAsync(args, cancel.Token);
