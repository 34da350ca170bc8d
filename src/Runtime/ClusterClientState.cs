namespace ClusterSharing;

/// <summary>Where a <see cref="ClusterClient{T}"/> handle stands, for health checks and dashboards (see <see cref="ClusterClient{T}.State"/>).</summary>
public enum ClusterClientState
{
    /// <summary>Not ready yet and never was: the election runs, or the leader's factory or the registration is under way.</summary>
    Starting = 0,

    /// <summary>Calls are served: this process leads and its real client exists, or it follows a leader that accepted the channel.</summary>
    Ready = 1,

    /// <summary>Was ready, then lost its leader (or was deposed): a new leader is being elected or is building its real client.
    /// Calls made now wait for it, each within its own timeout.</summary>
    FailingOver = 2,

    /// <summary>The leader's client factory failed (on this process or on the leader). It is retried with backoff, so the
    /// handle can become <see cref="Ready"/> again.</summary>
    Faulted = 3,

    /// <summary>The handle was disposed.</summary>
    Disposed = 4,
}
