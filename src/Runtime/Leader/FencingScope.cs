namespace ClusterSharing.Leader;

/// <summary>
/// The epoch of the term under which the current thread is dispatching a call to the real client
/// (<see cref="ClusterClient.FencingToken"/>). A thread-static set around the synchronous part of a dispatch: two
/// field writes per call, no allocation (an AsyncLocal would allocate an execution context per call).
/// </summary>
internal static class FencingScope
{
    [ThreadStatic]
    private static long t_epoch;

    public static long Current => t_epoch;

    /// <summary>Sets the token for a dispatch; returns the previous one for <see cref="Exit"/>.</summary>
    public static long Enter(long epoch)
    {
        long previous = t_epoch;
        t_epoch = epoch;
        return previous;
    }

    public static void Exit(long previous) => t_epoch = previous;
}
