namespace ClusterSharing;

/// <summary>Base type of every exception ClusterClient raises on its own behalf.</summary>
public class ClusterClientException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ClusterClientException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public ClusterClientException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The leader's real client threw; the remote type, message and stack are kept.</summary>
public sealed class ClusterRemoteException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public ClusterRemoteException(string remoteType, string remoteMessage, string? remoteStackTrace, string? code)
        : this(remoteType, remoteMessage, remoteStackTrace, code, null)
    {
    }

    /// <summary>
    /// Creates the exception with the real exception as <see cref="Exception.InnerException"/> (on the leader, with
    /// <see cref="LeaderCallMode.SameAsFollowers"/>; followers only have the remote type and message).
    /// </summary>
    public ClusterRemoteException(string remoteType, string remoteMessage, string? remoteStackTrace, string? code, Exception? inner)
        : base($"The leader's client threw {remoteType}: {remoteMessage}", inner)
    {
        RemoteType = remoteType;
        RemoteMessage = remoteMessage;
        RemoteStackTrace = remoteStackTrace;
        Code = code;
    }

    /// <summary>Full name of the exception type thrown on the leader.</summary>
    public string RemoteType { get; }

    /// <summary>The message of the exception thrown on the leader.</summary>
    public string RemoteMessage { get; }

    /// <summary>The stack trace on the leader, when it was sent.</summary>
    public string? RemoteStackTrace { get; }

    /// <summary>An application error code (<c>Exception.Data["Code"]</c> or an HResult), when present.</summary>
    public string? Code { get; }
}

/// <summary>The leader was lost while a call was in flight.</summary>
public sealed class LeaderLostException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public LeaderLostException(string method, bool requestSent, Exception? inner = null)
        : base(requestSent
            ? $"The leader was lost after '{method}' was sent; it may or may not have run. Mark the method [Idempotent] to have it retried on the new leader."
            : $"The leader was lost before '{method}' was sent; it did not run.", inner)
    {
        Method = method;
        RequestSent = requestSent;
    }

    /// <summary>The contract member that was being called.</summary>
    public string Method { get; }

    /// <summary>True when the request had reached the socket, so the leader may have run it.</summary>
    public bool RequestSent { get; }
}

/// <summary>A call did not complete within its timeout.</summary>
public class ClusterTimeoutException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public ClusterTimeoutException(string method, TimeSpan timeout)
        : this(method, timeout, leader: null)
    {
    }

    /// <summary>Creates the exception naming the leader the call was waiting for.</summary>
    /// <param name="method">The contract member.</param>
    /// <param name="timeout">The timeout that elapsed.</param>
    /// <param name="leader">Where the leader was (an endpoint, or "this process"), or null when unknown.</param>
    public ClusterTimeoutException(string method, TimeSpan timeout, string? leader)
        : this(method, timeout, leader,
            $"'{method}' did not complete within {timeout.TotalMilliseconds:0} ms" + (leader is null ? "" : $" (leader: {leader})") +
            ". Raise ClusterClientOptions.ResponseTimeout or put [Timeout(ms)] on the method.")
    {
    }

    /// <summary>Creates the exception with its own message (for derived types).</summary>
    protected ClusterTimeoutException(string method, TimeSpan timeout, string? leader, string message)
        : base(message)
    {
        Method = method;
        Timeout = timeout;
        Leader = leader;
    }

    /// <summary>Where the leader was when the call timed out (an endpoint, or "this process"); null when there was none.</summary>
    public string? Leader { get; }

    /// <summary>The contract member that timed out.</summary>
    public string Method { get; }

    /// <summary>The timeout that elapsed.</summary>
    public TimeSpan Timeout { get; }
}
