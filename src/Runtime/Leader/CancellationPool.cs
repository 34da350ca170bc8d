using ClusterSharing.Transport;

namespace ClusterSharing.Leader;

/// <summary>Reuses the per-call cancellation sources of the leader's dispatch (a timer-armed source is a sizeable allocation).</summary>
internal static class CancellationPool
{
    private static readonly BoundedPool<CancellationTokenSource> Pool = new(1024);

    public static CancellationTokenSource Rent() => Pool.TryRent(out var source) ? source : new CancellationTokenSource();

    /// <summary>Pools <paramref name="source"/> when it was never cancelled (TryReset also disarms its timer); disposes it otherwise.</summary>
    /// <remarks>As in Kestrel's pooled request-abort sources: only the call that owned it returns it, after the real call
    /// completed; a registration the real client left on the token would be stale either way.</remarks>
    public static void Return(CancellationTokenSource source)
    {
        if (source.TryReset() && Pool.TryReturn(source)) return;
        source.Dispose();
    }
}
