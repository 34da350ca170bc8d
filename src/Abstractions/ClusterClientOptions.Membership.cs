namespace ClusterSharing;

public sealed partial class ClusterClientOptions
{
    /// <summary>Leader preference: among live eligible members the highest weight leads (ties: the earliest joined).</summary>
    /// <remarks>
    /// A leader that sees an eligible member with a strictly higher weight join hands leadership over to it (it stops
    /// serving, then resigns, so two leaders never serve); after losing a leader, a member leaves the election to a
    /// heavier member of its view for at most ConnectTimeout + 3 × HeartbeatInterval. Equal weights never cause a
    /// handover (the leader in place stays); they only order the next election: a member leaves it to an equal-weight
    /// member that joined earlier for at most 2 × HeartbeatInterval (on Redis the engine's own candidate order does this). On Redis (<see cref="UseRedis"/>) it is the Bully priority:
    /// the highest weight among live eligible candidates campaigns, and a heavier candidate that joins takes over the
    /// same way. Every member sees the value in <c>ClusterMember.Weight</c>. Default 0.
    /// </remarks>
    public int Weight { get; set; }

    /// <summary>
    /// False: this process never leads (it follows, like <see cref="ClusterRole.Follower"/>, and says so in its member
    /// entry). Default true.
    /// </summary>
    public bool Eligible { get; set; } = true;

    /// <summary>
    /// How many members are masters (node-discovery's <c>mastersRequired</c>): the leader, and the best-ranked other
    /// eligible members (highest <see cref="Weight"/>, then the earliest joined) up to this number. Every member computes
    /// the masters from its own view with its own value, so give every member of a cluster the same one. 1 to 1,000; default 1
    /// (only the leader).
    /// </summary>
    public int MastersRequired { get; set; } = 1;
}
