using Spectre.Console;

namespace Shadowing.Cli;

/// <summary>Where the CLI writes: results on standard output, progress and errors on standard error.</summary>
internal static class Terminal
{
    /// <summary>Standard error, for messages that must not mix with machine-readable output.</summary>
    public static IAnsiConsole Errors { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>Progress of long work as lines on standard error, written as reported.</summary>
    public static IProgress<string> Lines { get; } = new LineProgress();

    /// <summary>Runs <paramref name="work"/> with a progress bar on standard error when it is a terminal.</summary>
    public static T WithProgress<T>(string title, Func<IProgress<Shadowing.Forecasting.Backtesting.BacktestProgress>, T> work)
    {
        if (Console.IsErrorRedirected)
        {
            return work(new Progress<Shadowing.Forecasting.Backtesting.BacktestProgress>());
        }

        return Errors.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(title);
                return work(new SyncProgress(p =>
                {
                    task.MaxValue = Math.Max(1, p.OriginsTotal);
                    task.Value = p.OriginsDone;
                }));
            });
    }

    /// <summary>Reports on the calling thread, unlike <see cref="Progress{T}"/>, so the bar updates while work blocks it.</summary>
    private sealed class SyncProgress(Action<Shadowing.Forecasting.Backtesting.BacktestProgress> report) : IProgress<Shadowing.Forecasting.Backtesting.BacktestProgress>
    {
        public void Report(Shadowing.Forecasting.Backtesting.BacktestProgress value) => report(value);
    }

    private sealed class LineProgress : IProgress<string>
    {
        public void Report(string value) => Console.Error.WriteLine(value);
    }
}
