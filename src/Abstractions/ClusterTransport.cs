namespace ClusterSharing;

/// <summary>How followers reach the leader on one machine.</summary>
public enum ClusterTransport
{
    /// <summary>TCP on <see cref="ClusterClientOptions.BindAddress"/> (loopback by default) and <see cref="ClusterClientOptions.Port"/>.</summary>
    Tcp = 0,

    /// <summary>A Unix domain socket (file mode 0600) at <see cref="ClusterClientOptions.SocketPath"/>; faster than loopback TCP and
    /// reachable only by the same user.</summary>
    UnixSocket = 1,
}
