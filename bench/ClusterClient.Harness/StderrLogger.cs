using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Harness;

/// <summary>Runtime log lines on stderr with the monotonic time in ms, for `--verbose` runs (where does failover time go).</summary>
internal sealed class StderrLogger : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Console.Error.WriteLine($"{LineHost.Ns(Stopwatch.GetTimestamp()) / 1e6:0.000} {eventId.Id} {formatter(state, exception)}");
}
