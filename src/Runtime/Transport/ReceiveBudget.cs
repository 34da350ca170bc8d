namespace ClusterSharing.Transport;

/// <summary>
/// Bytes of incomplete frames that many <see cref="FrameConnection"/>s may buffer together. Each connection charges what
/// it holds of a frame not yet complete; a connection that would take the total past <see cref="Capacity"/> is closed,
/// so no set of peers can make a process buffer more than this plus one read per connection.
/// </summary>
public sealed class ReceiveBudget
{
    private long _used;

    /// <summary>Creates a budget of <paramref name="capacity"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is not positive.</exception>
    public ReceiveBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>The most bytes all connections may hold at once.</summary>
    public long Capacity { get; }

    /// <summary>Bytes held now.</summary>
    public long Used => Interlocked.Read(ref _used);

    /// <summary>Changes a connection's charge from <paramref name="held"/> to <paramref name="wanted"/> bytes.</summary>
    /// <returns>False (and the charge unchanged) when growing to <paramref name="wanted"/> would pass the capacity.</returns>
    internal bool TryResize(ref long held, long wanted)
    {
        long delta = wanted - held;
        if (delta == 0) return true;
        if (delta < 0)
        {
            Interlocked.Add(ref _used, delta);
            held = wanted;
            return true;
        }
        while (true)
        {
            long used = Interlocked.Read(ref _used);
            if (used + delta > Capacity) return false;
            if (Interlocked.CompareExchange(ref _used, used + delta, used) == used)
            {
                held = wanted;
                return true;
            }
        }
    }
}
