using System.Collections.Concurrent;

namespace Shadowing.Cli.Demo;

/// <summary>
/// Keeps the stack's warnings and errors while the live view owns the console, stamped with simulated time; the demo
/// prints how many there were and writes them all to <c>demo.log</c> in the report folder.
/// </summary>
internal sealed class DemoLog(TimeProvider clock) : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(DemoLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var error = exception is null ? string.Empty : $" ({exception.GetType().Name}: {exception.Message})";
                log._lines.Enqueue($"{log.Clock.GetUtcNow():yyyy-MM-dd HH:mm:ss} {logLevel} {category}: {formatter(state, exception)}{error}");
            }
        }
    }

    private TimeProvider Clock => clock;
}
