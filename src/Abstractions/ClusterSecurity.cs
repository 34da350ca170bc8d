namespace ClusterSharing;

/// <summary>Who may join a cluster (see docs/security.md).</summary>
public enum ClusterSecurity
{
    /// <summary>
    /// Every peer proves it knows the shared secret, the leader first: <see cref="ClusterClientOptions.Secret"/> when set,
    /// otherwise a random per-user secret kept in the state directory (created on first use, mode 0600). Processes of one
    /// user therefore authenticate each other with no configuration, and processes of other local users cannot join.
    /// </summary>
    Authenticated = 0,

    /// <summary>
    /// No authentication, like Node's cluster-client: any local process that reaches the port (any user) can call the
    /// real client or pose as the leader. Only for machines where every local user is trusted; loopback only.
    /// </summary>
    Open = 1,
}

/// <summary>How much of an exception thrown by the real client travels to the follower that made the call.</summary>
public enum RemoteErrorDetail
{
    /// <summary>The exception's type name only; the message stays in the leader's log.</summary>
    TypeOnly = 0,

    /// <summary>Type and message (the default): no stack trace, so no source paths or internals leave the leader.</summary>
    Message = 1,

    /// <summary>Type, message and stack trace (with source paths when the leader has symbols). For debugging.</summary>
    Full = 2,
}
