using System.Diagnostics;

namespace ClusterSharing.ProcessHarness;

/// <summary>
/// The machine-wide monotonic clock (CLOCK_MONOTONIC on Linux, as Node's hrtime), so a parent and its children can
/// compare timestamps taken in different processes.
/// </summary>
public static class MonotonicClock
{
    /// <summary>Milliseconds now.</summary>
    public static double Milliseconds() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    /// <summary>Nanoseconds now.</summary>
    public static long Nanoseconds() => Nanoseconds(Stopwatch.GetTimestamp());

    /// <summary>Nanoseconds in <paramref name="ticks"/> <see cref="Stopwatch"/> ticks (a timestamp or a difference of two).</summary>
    public static long Nanoseconds(long ticks) =>
        Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1e9 / Stopwatch.Frequency));
}
