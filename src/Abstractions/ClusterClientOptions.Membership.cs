namespace ClusterSharing;

public sealed partial class ClusterClientOptions
{
    /// <summary>Leader preference: among live eligible members the highest weight leads (ties: the earliest joined).</summary>
    /// <remarks>
    /// Machine scope today: a leader that sees an eligible member with a strictly higher weight join hands leadership
    /// over to it (it stops serving, then resigns, so two leaders never serve); after losing a leader, a member leaves
    /// the election to a heavier member of its view for at most ConnectTimeout + 3 × HeartbeatInterval. On equal weights
    /// the election decides and the leader in place stays. On Redis (<see cref="UseRedis"/>) it is the Bully priority:
    /// the highest weight among live eligible candidates campaigns, and a heavier candidate that joins takes over the
    /// same way. Every member sees the value in <c>ClusterMember.Weight</c>. Default 0.
    /// </remarks>
    public int Weight { get; set; }

    /// <summary>
    /// False: this process never leads (it follows, like <see cref="ClusterRole.Follower"/>, and says so in its member
    /// entry). Default true.
    /// </summary>
    public bool Eligible { get; set; } = true;
}
