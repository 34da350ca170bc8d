namespace ClusterSharing;

/// <summary>
/// A call reached the leader while its real client did not exist (being built at start-up or right after a takeover,
/// or the leader was handing over), and the client could not be had while the call waited there: the factory failed
/// (the message carries the factory's error; the leader retries it with backoff) or the client was not built within
/// MaxWaitTime. Raised by ClusterClient itself, never by the real client, which did not run the call.
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
    /// <param name="inner">The cause, when it is known in this process (the leader's <see cref="ClusterFactoryException"/>).</param>
    public ClusterClientNotReadyException(string message, Exception? inner = null) : base(message, inner) { }
}
