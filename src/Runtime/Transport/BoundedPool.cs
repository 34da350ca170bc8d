using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace ClusterSharing.Transport;

/// <summary>
/// A thread-safe pool that keeps at most a fixed number of reusable objects: the per-call objects of both ends of the
/// wire (pending calls, in-flight calls, their cancellation sources) come from one of these, so a steady stream of
/// calls allocates nothing and a burst leaves no more than the capacity behind.
/// </summary>
internal sealed class BoundedPool<T>(int capacity) where T : class
{
    private readonly ConcurrentQueue<T> _items = new();
    private int _count;

    /// <summary>Takes a pooled object; false when the pool is empty (the caller makes a new one).</summary>
    public bool TryRent([NotNullWhen(true)] out T? item)
    {
        if (!_items.TryDequeue(out item)) return false;
        Interlocked.Decrement(ref _count);
        return true;
    }

    /// <summary>Keeps <paramref name="item"/> for reuse; false (left to the GC) when the pool is full.</summary>
    public bool TryReturn(T item)
    {
        if (Interlocked.Increment(ref _count) <= capacity)
        {
            _items.Enqueue(item);
            return true;
        }
        Interlocked.Decrement(ref _count);
        return false;
    }
}
