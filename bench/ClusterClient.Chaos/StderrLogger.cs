using Microsoft.Extensions.Logging;

namespace ClusterSharing.Chaos;

/// <summary>The runtime's log on stderr, one line per event with its id, at Information and above.</summary>
internal sealed class StderrLogger : ILogger
{
    private static readonly Lock Gate = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        // The message only: exception stack traces would make a million-frame attack a million stack traces.
        string line = $"{logLevel} {eventId.Id}:{eventId.Name} {formatter(state, exception)}".ReplaceLineEndings(" ");
        lock (Gate) Console.Error.WriteLine(line);
    }
}
