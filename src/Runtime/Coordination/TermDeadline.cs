using System.Diagnostics;

namespace ClusterSharing.Coordination;

/// <summary>
/// The safety deadline of a term kept on a server with a time to live (an etcd lease, a Redis key): every renewal the
/// server acknowledged moves it to (time the request was sent) + TTL - margin. The request left before the server
/// restarted its clock, so the deadline falls before the server can let the term expire. Monotonic clock only.
/// </summary>
internal sealed class TermDeadline
{
    private readonly long _marginTicks;
    private long _validUntil; // Stopwatch timestamp
    private long _lastRenewal; // Stopwatch timestamp of the last acknowledged request

    /// <param name="sentAt">Stopwatch timestamp of the request that won the term.</param>
    /// <param name="ttl">The time to live the server granted.</param>
    /// <param name="margin">How long before the server's expiry the term stops being valid.</param>
    public TermDeadline(long sentAt, TimeSpan ttl, TimeSpan margin)
    {
        _marginTicks = (long)(margin.TotalSeconds * Stopwatch.Frequency);
        _lastRenewal = sentAt;
        _validUntil = sentAt + Ticks(ttl) - _marginTicks;
    }

    /// <summary>True until the deadline.</summary>
    public bool IsValid => Stopwatch.GetTimestamp() < Interlocked.Read(ref _validUntil);

    /// <summary>Time since the last acknowledged renewal was sent (for messages).</summary>
    public TimeSpan SinceLastRenewal => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastRenewal));

    /// <summary>The server acknowledged a renewal sent at <paramref name="sentAt"/> for <paramref name="ttl"/>; never moves the deadline back.</summary>
    public void Renewed(long sentAt, TimeSpan ttl)
    {
        long until = sentAt + Ticks(ttl) - _marginTicks;
        long known;
        while ((known = Interlocked.Read(ref _validUntil)) < until)
        {
            if (Interlocked.CompareExchange(ref _validUntil, until, known) == known) break;
        }
        long last;
        while ((last = Interlocked.Read(ref _lastRenewal)) < sentAt)
        {
            if (Interlocked.CompareExchange(ref _lastRenewal, sentAt, last) == last) break;
        }
    }

    /// <summary>Completes with true when the deadline has passed, false when <paramref name="stop"/> fired first.</summary>
    public async Task<bool> WaitExpiredAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            long remaining = Interlocked.Read(ref _validUntil) - Stopwatch.GetTimestamp();
            if (remaining <= 0) return true;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency) + TimeSpan.FromMilliseconds(1), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        return false;
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}
