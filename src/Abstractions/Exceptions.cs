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
        : base($"The leader's client threw {remoteType}: {remoteMessage}")
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
public sealed class ClusterTimeoutException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public ClusterTimeoutException(string method, TimeSpan timeout)
        : base($"'{method}' did not complete within {timeout.TotalMilliseconds:0} ms. Raise ClusterClientOptions.ResponseTimeout or put [Timeout(ms)] on the method.")
    {
        Method = method;
        Timeout = timeout;
    }

    /// <summary>The contract member that timed out.</summary>
    public string Method { get; }

    /// <summary>The timeout that elapsed.</summary>
    public TimeSpan Timeout { get; }
}
