namespace ClusterSharing;

/// <summary>
/// The leader's real client could not serve a call: its client factory failed (the leader retries it with backoff), or
/// the client was not built while the call could wait. Raised by ClusterClient itself, in the leader and in every
/// follower alike; the real client never ran the call.
/// </summary>
/// <remarks>
/// A call that reaches a leader whose client is still being built (at start-up or right after a failover) waits for it
/// within its own timeout; this exception reports why it could not. Retrying later is safe: errors are never sticky,
/// and a call succeeds as soon as the factory does.
/// </remarks>
public sealed class ClusterClientNotReadyException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was not ready and why (the factory's own failure when it threw).</param>
    /// <param name="inner">The factory's exception, when it is known in this process.</param>
    public ClusterClientNotReadyException(string message, Exception? inner = null) : base(message, inner) { }
}
