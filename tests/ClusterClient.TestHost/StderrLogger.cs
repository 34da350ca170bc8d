using Microsoft.Extensions.Logging;

namespace ClusterSharing.TestHost;

/// <summary>Sends the runtime's log to stderr (stdout is reserved for the JSON line protocol).</summary>
internal sealed class StderrLogger : ILogger
{
    private static readonly Lock Gate = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string line = $"{DateTime.UtcNow:HH:mm:ss.fff} [{Environment.ProcessId}] {logLevel} {eventId.Id}:{eventId.Name} {formatter(state, exception)}"
            + (exception is null ? "" : " " + exception);
        lock (Gate) Console.Error.WriteLine(line);
    }
}
