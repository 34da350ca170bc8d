using Microsoft.Extensions.Logging;

namespace ClusterSharing.ProcessHarness;

/// <summary>
/// The runtime's log on stderr (stdout carries the line protocol), one line an event:
/// <c>12345.678 [pid] Level id:Name message</c>, the time being <see cref="MonotonicClock.Milliseconds"/> so it lines
/// up with the parent's and the other workers' timestamps.
/// </summary>
/// <param name="minimumLevel">Events below this level are not written.</param>
/// <param name="includeExceptions">
/// False writes the message only: a run that provokes a million errors must not write a million stack traces.
/// </param>
public sealed class StderrLogger(LogLevel minimumLevel = LogLevel.Trace, bool includeExceptions = true) : ILogger
{
    private static readonly Lock Gate = new();

    /// <inheritdoc/>
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    /// <inheritdoc/>
    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimumLevel && logLevel != LogLevel.None;

    /// <inheritdoc/>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        string line = FormattableString.Invariant(
            $"{MonotonicClock.Milliseconds():0.000} [{Environment.ProcessId}] {logLevel} {eventId.Id}:{eventId.Name} {formatter(state, exception).ReplaceLineEndings(" ")}");
        if (includeExceptions && exception is not null) line += " " + exception;
        lock (Gate) Console.Error.WriteLine(line);
    }
}
