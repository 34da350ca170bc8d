namespace ClusterSharing;

/// <summary>
/// The leader's client factory failed. Every process (the leader and each follower) sees this exception for the same
/// failure, with the factory exception's type, message and code; on the leader <see cref="Exception.InnerException"/>
/// is the factory's exception itself. The factory is retried with backoff, so a later call can succeed.
/// </summary>
public sealed class ClusterFactoryException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="channel">The channel whose factory failed.</param>
    /// <param name="remoteType">Full name of the exception type the factory threw.</param>
    /// <param name="remoteMessage">Its message.</param>
    /// <param name="code">Its <c>Exception.Data["Code"]</c>, when present.</param>
    /// <param name="inner">The factory's exception (on the leader only).</param>
    public ClusterFactoryException(string channel, string remoteType, string remoteMessage, string? code, Exception? inner = null)
        : base($"The client factory of channel '{channel}' failed on the leader: {remoteType}{(code is null ? "" : $" (code {code})")}: {remoteMessage}. " +
               "The leader retries it with backoff; a later call or ReadyAsync succeeds once the factory does.", inner)
    {
        Channel = channel;
        RemoteType = remoteType;
        RemoteMessage = remoteMessage;
        Code = code;
    }

    /// <summary>The channel whose factory failed.</summary>
    public string Channel { get; }

    /// <summary>Full name of the exception type the factory threw on the leader.</summary>
    public string RemoteType { get; }

    /// <summary>The message of the factory's exception.</summary>
    public string RemoteMessage { get; }

    /// <summary>The factory exception's <c>Exception.Data["Code"]</c>, when present.</summary>
    public string? Code { get; }
}

/// <summary>
/// A call's arguments or result do not fit in one frame of <see cref="ClusterClientOptions.MaxFrameSize"/> bytes.
/// Raised by ClusterClient itself (the real client threw nothing); the call did not run (arguments) or its result
/// was discarded (result).
/// </summary>
public sealed class ClusterFrameTooLargeException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public ClusterFrameTooLargeException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// ClusterClient could not carry a call: the leader refused it (unknown method id, arguments it cannot decode: usually
/// processes running different contract versions) or a reply could not be decoded. Raised by ClusterClient itself,
/// never for an exception of the real client.
/// </summary>
public sealed class ClusterProtocolException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public ClusterProtocolException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// A call found no leader: no process led or was reachable on the port within the call's timeout or
/// <see cref="ClusterClientOptions.MaxWaitTime"/>, whichever is shorter. <see cref="Search"/> says where this process
/// looked and what it saw.
/// </summary>
public sealed class ClusterNoLeaderException : ClusterTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="method">The contract member that was called.</param>
    /// <param name="waited">How long the call waited for a leader.</param>
    /// <param name="search">Where this process looked for the leader and what it saw.</param>
    public ClusterNoLeaderException(string method, TimeSpan waited, string search)
        : base(method, waited, leader: null,
            $"'{method}' found no leader within {waited.TotalMilliseconds:0} ms: no leader was reachable ({search}). " +
            "Start a process that can lead on this port (Role Auto or Leader), or raise ClusterClientOptions.MaxWaitTime if the leader is slow to start.")
    {
        Search = search;
    }

    /// <summary>Where this process looked for the leader and what it saw (for example "nothing is listening on 127.0.0.1:7777 (connection refused)").</summary>
    public string Search { get; }
}

/// <summary>How a leading process's own calls reach its real client. See <see cref="ClusterClientOptions.LeaderCalls"/>.</summary>
public enum LeaderCallMode
{
    /// <summary>
    /// The proxy calls the real client directly: the same argument objects, the real client's exceptions as thrown,
    /// values as the real client returned them. Fastest; the leader and followers see different exception types and
    /// may see different <see cref="DateTime.Kind"/>s.
    /// </summary>
    Direct = 0,

    /// <summary>
    /// The leader's calls take the followers' path without the socket: arguments and results are copied through the
    /// wire format (so <see cref="DateTime"/> values come back as UTC, as on followers), and an exception of the real
    /// client surfaces as <see cref="ClusterRemoteException"/> with the real exception as its
    /// <see cref="Exception.InnerException"/>. One catch path for every role, at the cost of a serialization round trip.
    /// </summary>
    SameAsFollowers = 1,
}
