using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace ClusterSharing.Leader;

/// <summary>
/// Rate limit for the warnings a leader logs about connections it rejects: at most <see cref="Burst"/> per
/// <see cref="Window"/>; the rest are counted and reported once in the next warning, so a flood of junk connections
/// costs a bounded number of log lines instead of one or more each.
/// </summary>
internal sealed class RejectionLimiter
{
    public const int Burst = 20;
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private long _windowStart = long.MinValue;
    private int _logged;
    private int _suppressed;

    /// <summary>True when this rejection may be logged (after a summary of those dropped before it, if any).</summary>
    public bool Allow(ILogger logger)
    {
        if (!TryLog(out int suppressed)) return false;
        if (suppressed > 0) LeaderLog.RejectionsSuppressed(logger, suppressed, Window.TotalSeconds);
        return true;
    }

    /// <summary>True when this rejection may be logged; <paramref name="suppressedBefore"/> is how many were dropped since the last one logged.</summary>
    public bool TryLog(out int suppressedBefore)
    {
        long now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            if (_windowStart == long.MinValue || Stopwatch.GetElapsedTime(_windowStart, now) >= Window)
            {
                _windowStart = now;
                _logged = 0;
            }
            if (_logged >= Burst)
            {
                _suppressed++;
                suppressedBefore = 0;
                return false;
            }
            _logged++;
            suppressedBefore = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
