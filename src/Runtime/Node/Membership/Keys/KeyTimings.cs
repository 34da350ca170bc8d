using System.Diagnostics;

namespace ClusterSharing.Node.Membership.Keys;

/// <summary>
/// The clocks of leadership per key, all derived from <see cref="ClusterClientOptions.HeartbeatInterval"/> (HB) and
/// measured on the monotonic clock (<see cref="Stopwatch.GetTimestamp"/>, CLOCK_MONOTONIC on Linux) of each process.
/// </summary>
internal sealed class KeyTimings
{
    public KeyTimings(ClusterClientOptions options)
    {
        var hb = options.HeartbeatInterval;
        Lease = Ticks(3 * hb);
        Margin = Ticks(hb / 2);
        RenewEvery = Ticks(hb / 2);
        Tick = TimeSpan.FromMilliseconds(Math.Clamp(hb.TotalMilliseconds / 4, 10, 250));
        Grace = options.KeyReleaseGrace;
        Wait = 2 * hb;
    }

    /// <summary>A member owns keys until (send time of its last renewal the leader acknowledged) + Lease: 3 × HB (the liveness timeout).</summary>
    public long Lease { get; }

    /// <summary>Added by the leader on top of Lease before a silent owner's keys move: HB / 2.</summary>
    public long Margin { get; }

    /// <summary>How often a member renews its lease: HB / 2.</summary>
    public long RenewEvery { get; }

    /// <summary>The period of the timers that renew, expire and re-check: HB / 4 (10 to 250 ms).</summary>
    public TimeSpan Tick { get; }

    /// <summary><see cref="ClusterClientOptions.KeyReleaseGrace"/>.</summary>
    public TimeSpan Grace { get; }

    /// <summary>How long DoIfLeaderAsync waits for a key it does not own before it checks once more: 2 × HB.</summary>
    public TimeSpan Wait { get; }

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}
